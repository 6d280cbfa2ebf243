"""Immutable values describing migrations as they are on disk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from migrator.source.segments import Segment, cut_segments, runs_alone_outside_a_transaction
from migrator.sql.split import SplitResult, Statement, split_statements

if TYPE_CHECKING:  # a large file's modules load with the first large file (and hashlib
    # with the first checksum): a lint of small files without its cache needs neither
    from migrator.source.file_text import FileText

Phase = Literal["expand", "backfill", "contract"]
PHASES: tuple[Phase, ...] = ("expand", "backfill", "contract")


# small records are named tuples: every command imports this module, and a named tuple
# class costs a fraction of a frozen dataclass to create
class LintIgnore(NamedTuple):
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


class FileProblem(NamedTuple):
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
    """One ``.sql`` file: its text's checksum, directives and statements.

    The checksum, directives, statements and problems are read from its text when first
    asked for, so commands that need only names and checksums (``status``, ``verify``)
    parse no SQL, and reading the directives parses none unless one stands after the first
    statement. ``content`` is the text, or for a large file (over
    :data:`~migrator.sql.split.WHOLE_PARSE_LIMIT` bytes) a :class:`FileText` read
    again from disk whenever it is walked: its :attr:`statements` are then a
    :class:`~migrator.sql.statement_source.StatementSource`, never all in memory.
    """

    path: Path
    direction: Literal["up", "down"]
    content: str | FileText
    #: what the layout's own marker says (goose ``NO TRANSACTION``, dbmate
    #: ``transaction:false``, sqlx ``-- no-transaction``, diesel's ``metadata.toml``);
    #: ``-- migrate:no-transaction`` can only turn it off too
    layout_transactional: bool = field(default=True, kw_only=True)

    @cached_property
    def checksum(self) -> str:
        """The ledger's checksum of the text (:mod:`migrator.source.checksum`): computed
        when first asked for (``migrate lint`` without its cache never asks); a large
        file's was computed as it was read."""
        if isinstance(self.content, str):
            from migrator.source.checksum import content_checksum

            return content_checksum(self.content)
        return self.content.content_checksum

    @property
    def text(self) -> str:
        """The whole text (read from disk for a large file: as much memory as the file;
        what walks the statements never asks for it)."""
        return self.content if isinstance(self.content, str) else self.content.read()

    @property
    def streamed(self) -> bool:
        """A large file, walked from disk (see :attr:`content`)."""
        return not isinstance(self.content, str)

    @property
    def size(self) -> int:
        """The text's length (a large file's size in bytes: read from disk, not held)."""
        return len(self.content) if isinstance(self.content, str) else self.content.size

    @property
    def weight(self) -> int:
        """About how many statements the file has, without splitting a held text (its
        semicolons) or walking a large one (its statement count)."""
        return self.content.count(";") if isinstance(self.content, str) else len(self.statements)

    def line_texts(self, numbers: Iterable[int]) -> dict[int, str]:
        """The text of each 1-based line of ``numbers`` that the file has (a large
        file is read once for all of them, holding only those lines)."""
        wanted = set(numbers)
        if not wanted:
            return {}
        if isinstance(self.content, str):
            lines = self.content.splitlines()
            return {n: lines[n - 1] for n in wanted if 0 < n <= len(lines)}
        return self.content.lines(wanted)

    def head(self, size: int) -> str:
        """The first ``size`` characters of the text at most."""
        return self.content[:size] if isinstance(self.content, str) else self.content.head(size)

    @cached_property
    def split(self) -> SplitResult:
        """The statements, syntax errors and psql meta-commands of the text."""
        if isinstance(self.content, str):
            return split_statements(self.content)
        from migrator.source.directives import DIRECTIVE  # it imports this module
        from migrator.sql.statement_source import StatementSource

        source = StatementSource(self.content.chunks, comments=DIRECTIVE)
        return SplitResult(source, source.syntax_errors, source.meta_commands)

    @property
    def statements(self) -> Sequence[Statement]:
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

        text = self.content if isinstance(self.content, str) else None
        directives, problems = parse_directives(text, lambda: self.split)
        return directives, tuple(problems)

    @property
    def transactional(self) -> bool:
        """Whether the runner runs the file in transactions: unless it says
        ``-- migrate:no-transaction`` (or its layout's marker does), or its only
        statement cannot run in one
        (:func:`~migrator.source.segments.runs_alone_outside_a_transaction`)."""
        return self.layout_transactional and self.directives.transactional and not self._runs_alone

    @cached_property
    def _runs_alone(self) -> bool:
        if len(self.statements) != 1:
            return False  # a large file's text is not read for nothing
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

    @property
    def empty(self) -> bool:
        """Nothing but comments and white space: a no-op (an empty down: nothing to undo)."""
        return not self.split.statements and not self.split.syntax_errors

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
    #: Flyway's ``R__`` migration: applied after the versioned ones, again whenever
    #: its checksum changes; never reverted
    repeatable: bool = False

    @property
    def reversible(self) -> bool:
        return self.down is not None

    @property
    def shown_version(self) -> str:
        """The version in messages (see :func:`migrator.source.versions.shown_version`)."""
        from migrator.source.versions import shown_version

        return shown_version(self.version, self.version_text)

    @property
    def label(self) -> str:
        if self.repeatable:
            return f"R__{self.name}"
        version = self.version_text or str(self.version)
        return f"{version}_{self.name}" if self.name else version  # Flyway's V3__.sql

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
    #: the layout the files were read in (``migrator``, ``golang-migrate``, ``sqlx``,
    #: ``dbmate``, ``goose``, ``flyway``, ``diesel``)
    layout: str = "migrator"
    #: ``detected`` or where the choice came from (``--layout``, ``pyproject.toml``, ...)
    layout_origin: str = "detected"
    #: how the layout's version texts map to ledger keys (see migrator.source.versions)
    version_scheme: str = "digits"
    #: names in the directory that are not migrations by the layout's rules
    ignored: tuple[Path, ...] = field(default=())

    def version_text(self, key: int) -> str:
        """A ledger version as this layout writes it (the file's own text when known)."""
        for migration in self.migrations:
            if migration.version == key and migration.version_text:
                return migration.version_text
        from migrator.source.versions import format_key

        return format_key(self.version_scheme, key)

    def shown_version(self, key: int) -> str:
        """A ledger version in messages (see :func:`migrator.source.versions.shown_version`)."""
        from migrator.source.versions import shown_version

        return shown_version(key, self.version_text(key))

    def version_key(self, text: str) -> int:
        """A version typed by a user (``--to``), as this layout orders it: a version
        text of the layout, or the ledger key itself."""
        from migrator.source.versions import version_key

        for migration in self.migrations:
            if text in (migration.version_text, str(migration.version), migration.label):
                return migration.version
        return version_key(self.version_scheme, text)

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
