"""Immutable values describing migrations as they are on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from migrator.source.segments import Segment, cut_segments, runs_alone_outside_a_transaction
from migrator.sql.split import SplitResult, Statement, split_statements

Phase = Literal["expand", "backfill", "contract"]
PHASES: tuple[Phase, ...] = ("expand", "backfill", "contract")


@dataclass(frozen=True)
class LintIgnore:
    """``-- migrate:lint-ignore rule[, rule] [-- reason]`` on ``line``."""

    line: int
    column: int
    rules: tuple[str, ...]
    reason: str | None
    whole_file: bool = False


@dataclass(frozen=True)
class Directives:
    """What the ``-- migrate:`` comments of a file ask for."""

    transactional: bool = True
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    phase: Phase | None = None
    #: the argument text of ``-- migrate:backfill`` (parsed by the backfill layer)
    backfill: str | None = None
    #: line of the ``-- migrate:backfill`` directive
    backfill_line: int | None = None
    lint_ignores: tuple[LintIgnore, ...] = ()


@dataclass(frozen=True)
class FileProblem:
    """Something wrong inside a file, with its position.

    ``code`` is one of ``syntax-error``, ``psql-meta-command``, ``copy-from-stdin``,
    ``unknown-directive``, ``invalid-directive``, ``misplaced-directive``,
    ``transaction-control``, ``needs-no-transaction``. The linter turns them into
    findings; the runner refuses a file that has any.
    """

    code: str
    message: str
    line: int
    column: int = 1
    hint: str | None = None


@dataclass(frozen=True)
class MigrationFile:
    """One ``.sql`` file: its bytes' checksum, directives and statements.

    Directives, statements and problems are read from ``text`` when first asked for,
    so commands that need only names and checksums (``status``, ``verify``) parse no
    SQL, and reading the directives parses none unless one stands after the first
    statement.
    """

    path: Path
    direction: Literal["up", "down"]
    text: str
    checksum: str

    @cached_property
    def split(self) -> SplitResult:
        """The statements, syntax errors and psql meta-commands of the text."""
        return split_statements(self.text)

    @property
    def statements(self) -> tuple[Statement, ...]:
        return self.split.statements

    @property
    def directives(self) -> Directives:
        return self._directives_read[0]

    @cached_property
    def problems(self) -> tuple[FileProblem, ...]:
        """Everything wrong inside the file, in line order (the runner refuses a file
        that has any; the linter reports them)."""
        from migrator.source.discovery import split_problems  # it imports this module

        problems = [*self._directives_read[1], *split_problems(self.split)]
        return tuple(sorted(problems, key=lambda p: (p.line, p.column)))

    @cached_property
    def _directives_read(self) -> tuple[Directives, tuple[FileProblem, ...]]:
        from migrator.source.directives import parse_directives  # it imports this module

        directives, problems = parse_directives(self.text, lambda: self.split)
        return directives, tuple(problems)

    @property
    def transactional(self) -> bool:
        """Whether the runner runs the file in transactions: unless it says
        ``-- migrate:no-transaction``, or its only statement cannot run in one
        (:func:`~migrator.source.segments.runs_alone_outside_a_transaction`)."""
        return self.directives.transactional and not self._runs_alone

    @cached_property
    def _runs_alone(self) -> bool:
        return runs_alone_outside_a_transaction(self.text, self.statements)

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        """A transactional file's statements cut at its commit points (one segment when
        it has none, or only a ``BEGIN ... COMMIT`` wrapper); see
        :mod:`migrator.source.segments`."""
        return cut_segments(self.statements)

    @property
    def segmented(self) -> bool:
        """A transactional file with commit points: it runs as several transactions."""
        return self.transactional and len(self.segments) > 1

    def location(self, statement: Statement) -> str:
        return f"{self.path}:{statement.line}"


@dataclass(frozen=True)
class Migration:
    """A version: its up file and, unless it is up-only, its down file."""

    version: int
    name: str
    up: MigrationFile
    down: MigrationFile | None = None
    #: the version as written in the file name (``001``)
    version_text: str = ""

    @property
    def reversible(self) -> bool:
        return self.down is not None

    @property
    def label(self) -> str:
        return f"{self.version_text or self.version}_{self.name}"

    @property
    def phase(self) -> Phase | None:
        return self.up.directives.phase

    def files(self) -> tuple[MigrationFile, ...]:
        return (self.up,) if self.down is None else (self.up, self.down)


@dataclass(frozen=True)
class MigrationSet:
    """Every migration of a directory, ordered by version, and what is wrong with it."""

    directory: Path
    migrations: tuple[Migration, ...]
    #: directory-level problems (names, duplicates, orphans, unreadable files), with paths
    problems: tuple[str, ...] = field(default=())

    def by_version(self) -> dict[int, Migration]:
        return {migration.version: migration for migration in self.migrations}

    def file_problems(self) -> list[str]:
        """Every problem inside files, one line each (``path:line: message``)."""
        lines = []
        for migration in self.migrations:
            for migration_file in migration.files():
                for problem in migration_file.problems:
                    text = f"{migration_file.path}:{problem.line}: {problem.message}"
                    if problem.hint:
                        text += f" ({problem.hint})"
                    lines.append(text)
        return lines
