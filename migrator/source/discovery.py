"""Find the migrations of a directory, read and parse each file, report every problem."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from migrator.errors import SourceError
from migrator.source.model import FileProblem, Migration, MigrationFile, MigrationSet
from migrator.source.reading import read_unless_larger
from migrator.source.segments import transaction_control
from migrator.sql import classify
from migrator.sql.split import WHOLE_PARSE_LIMIT, SplitResult, Statement
from migrator.sql.statement_source import of_kinds

if TYPE_CHECKING:
    from migrator.source.file_text import FileText
    from migrator.source.layouts.base import Candidate, Layout, Listing

#: a migration over this size is a data dump, not a schema change. A file over
#: :data:`~migrator.sql.split.WHOLE_PARSE_LIMIT` is walked from disk statement by
#: statement (:mod:`migrator.source.file_text`), never held whole, but each statement
#: keeps two bytes (its kind) while the file is in use, and every walk reads and lexes
#: the file again: the limit bounds that time; see docs/benchmarks.md
MAX_FILE_BYTES = 128 * 1024 * 1024

_COPY = re.compile(r"^\s*copy\b", re.IGNORECASE)


def load_file(
    path: Path, direction: Literal["up", "down"] = "up", data: bytes | None = None
) -> MigrationFile:
    """Read one migration file. Problems inside it are recorded (when first asked for:
    see :class:`MigrationFile`), never raised.

    Raises :class:`SourceError` only when the file cannot be read or decoded.
    """
    if data is None:
        read = _read(path)
        if not isinstance(read, bytes):  # a large file's FileText
            return MigrationFile(path, direction, read)
        data = read
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            [f"{path}: not UTF-8 (byte {exc.start}): save the file as UTF-8"]
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SourceError(
            [
                f"{path}:{line}: contains a NUL byte, where PostgreSQL would stop reading "
                "the statement: remove the byte"
            ]
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return MigrationFile(path, direction, text)


def split_problems(split: SplitResult) -> list[FileProblem]:
    """Syntax errors, psql meta-commands and ``COPY ... FROM stdin`` of a split file."""
    problems = []
    meta_lines = {line for line, _ in split.meta_commands}
    for error in split.syntax_errors:
        if error.line not in meta_lines:  # the meta-command problem says it better
            problems.append(FileProblem("syntax-error", error.message, error.line, error.column))
    for line, command in split.meta_commands:
        problems.append(
            FileProblem(
                "psql-meta-command",
                f"psql meta-command {command.split()[0]} is not SQL",
                line,
                hint="write plain SQL; migrations are not run through psql",
            )
        )
    for statement in of_kinds(split.statements, ("CopyStmt",)):
        if _COPY.match(statement.text) and classify.copy_from_stdin(statement.text):
            problems.append(
                FileProblem(
                    "copy-from-stdin",
                    "COPY ... FROM stdin needs psql to send its data",
                    statement.line,
                    statement.column,
                    "use INSERT statements, or load the data outside migrations",
                )
            )
    return problems


def _read(path: Path) -> bytes | FileText:
    """The file's bytes, or for a file over ``WHOLE_PARSE_LIMIT`` bytes its checked
    :class:`FileText` (read in chunks, never held)."""
    data = read_unless_larger(path, MAX_FILE_BYTES, "a migration", WHOLE_PARSE_LIMIT)
    if data is not None:
        return data
    from migrator.source.file_text import load_large  # loads with the first large file

    return load_large(path)


def discover(
    directory: Path,
    layout: str = "auto",
    *,
    origin: str = "detected",
    through: Collection[Path] | None = None,
) -> MigrationSet:
    """Every migration in ``directory``, ordered by version, with every problem found.

    ``layout`` names the layout to read (``auto``: detect it from the directory);
    ``origin`` says where that choice came from (for ``status``). With ``through``
    (files of the directory), the set ends at the last migration holding one of them:
    the later ones are listed (their names checked) but their files are not read, so
    they and the problems reading them would find are left out (``migrate lint FILE``
    needs only the migrations up to ``FILE``'s). When one of ``through`` is no up or
    down file of a migration, every file is read as without it (a problem found in
    another file may be the one that names it).

    Raises :class:`SourceError` only when the directory itself is missing or unreadable
    (or holds several layouts at once under ``auto``); problems with individual files
    are collected in ``MigrationSet.problems`` (all of them, each with its path).
    """
    from migrator.source.layouts import detect, named
    from migrator.source.layouts.base import duplicate_version_problems, list_directory

    directory = Path(directory)
    listing = list_directory(directory)
    chosen = detect(listing) if layout == "auto" else named(layout)
    scan = chosen.scan(listing)
    problems = [*listing.problems, *scan.problems]
    if layout != "auto" and not scan.candidates and not scan.problems:
        problems.extend(_other_layout_problem(listing, chosen))
    root = directory.resolve()
    migrations: list[Migration] = []
    seen: dict[int, Path] = {}
    candidates = sorted(scan.candidates, key=lambda c: c.key)
    if through is not None:
        candidates = _through(candidates, through)
    for candidate in candidates:
        escaped = [
            p
            for p in candidate.paths
            if (p.name in listing.symlinks or p.parent != directory) and not _inside(p, root)
        ]
        if escaped:
            problems.append(
                f"{escaped[0]}: symlink points outside the migrations directory: copy the file in"
            )
            continue
        if candidate.key in seen:
            problems.extend(
                duplicate_version_problems(
                    candidate.version_text, [seen[candidate.key], candidate.up]
                )
            )
            continue
        seen[candidate.key] = candidate.up
        try:
            up, down = chosen.load(candidate)
        except SourceError as exc:
            problems.extend(exc.problems)
            continue
        migrations.append(
            Migration(
                candidate.key,
                candidate.name,
                up,
                down,
                candidate.version_text,
                repeatable=candidate.repeatable,
            )
        )
    return MigrationSet(
        directory,
        tuple(migrations),
        tuple(problems),
        layout=chosen.name,
        layout_origin="detected" if layout == "auto" else origin,
        version_scheme=chosen.scheme,
        ignored=tuple(scan.ignored),
    )


def _through(candidates: list[Candidate], paths: Collection[Path]) -> list[Candidate]:
    """``candidates`` (ordered by version) up to the last one whose up or down file is
    one of ``paths``; all of them when one of ``paths`` is no such file, or none given."""
    version_of = {}
    for candidate in candidates:
        version_of[candidate.up] = candidate.key
        if candidate.down is not None:
            version_of[candidate.down] = candidate.key
    versions = [version_of.get(path) for path in paths]
    if not versions or None in versions:
        return candidates
    last = max(version for version in versions if version is not None)
    return [candidate for candidate in candidates if candidate.key <= last]


def _other_layout_problem(listing: Listing, chosen: Layout) -> list[str]:
    """A layout given by flag or configuration that finds no migration where another
    layout finds some: every command would see an empty directory (``up`` does nothing,
    lint passes), most likely a wrong ``--layout`` / ``layout =``."""
    from migrator.source.layouts import detect

    try:
        other = detect(listing)
    except SourceError:  # several layouts: not one to name
        return []
    found = other.scan(listing).candidates if other.name != chosen.name else []
    if not found:
        return []
    return [
        f"{found[0].up}: a {other.name} migration, one of {len(found)} in the directory, "
        f"where the {chosen.name} layout given (--layout, MIGRATOR_LAYOUT or layout = in "
        "[tool.migrator]) finds none: check the layout, or leave it out to detect it"
    ]


def _inside(path: Path, root: Path) -> bool:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a loop: refused when listed
        return False
    return resolved == root or root in resolved.parents


def runner_problems(migration_file: MigrationFile) -> list[FileProblem]:
    """Problems that make a parsed file impossible to run as its directives say."""
    problems = list(migration_file.problems)
    if migration_file.transactional:
        # the others are known from the file's parse to hold nothing to find
        for statement in of_kinds(migration_file.statements, classify.TRANSACTION_SENSITIVE_KINDS):
            reason = classify.non_transactional_reason(statement.text)
            if reason:
                problems.append(
                    FileProblem(
                        "needs-no-transaction",
                        f"statement {statement.excerpt(50)!r} cannot run in a transaction "
                        f"({reason})",
                        statement.line,
                        statement.column,
                        "add `-- migrate:no-transaction` at the top of the file",
                    )
                )
            control = transaction_control(statement)
            if control is not None and control.kind == "refused":
                problems.append(
                    FileProblem(
                        "transaction-control",
                        f"{control.keyword} inside a migration that runs in a transaction: "
                        "it would throw away work the ledger then records as applied",
                        statement.line,
                        statement.column,
                        "remove it; to undo a change, write the statement that undoes it",
                    )
                )
    else:
        problems.extend(unclosed_block(migration_file))
        problems.extend(prepared_transactions(migration_file))
    return problems


#: what ends a transaction block a no-transaction file opened
_BLOCK_ENDS = frozenset({"COMMIT", "ROLLBACK", "PREPARE"})


def prepared_transactions(migration_file: MigrationFile) -> list[FileProblem]:
    """``PREPARE TRANSACTION`` in a no-transaction file: the block's work is then only
    prepared, invisible and holding its locks, while the ledger records it applied (a
    later ``ROLLBACK PREPARED`` loses it for good)."""
    return [
        FileProblem(
            "transaction-control",
            "PREPARE TRANSACTION leaves the block's work prepared, not committed (invisible, "
            "holding its locks until COMMIT PREPARED) while the ledger records it as applied",
            statement.line,
            statement.column,
            "end the block with COMMIT",
        )
        for statement in of_kinds(migration_file.statements, ("TransactionStmt",))
        if classify.transaction_control(statement.text) == "PREPARE"
    ]


def unclosed_block(migration_file: MigrationFile) -> list[FileProblem]:
    """A ``BEGIN`` with no ``COMMIT`` after it in a no-transaction file: what it did
    would be rolled back when the runner's session ends, after the ledger said applied."""
    opened: Statement | None = None
    for statement in of_kinds(migration_file.statements, ("TransactionStmt",)):
        keyword = classify.transaction_control(statement.text)
        if keyword in ("BEGIN", "START"):
            opened = opened or statement
        elif keyword in _BLOCK_ENDS:
            opened = None
    if opened is None:
        return []
    return [
        FileProblem(
            "transaction-control",
            f"{classify.transaction_control(opened.text)} opens a transaction block that the "
            "file never commits",
            opened.line,
            opened.column,
            "add COMMIT after the block's last statement",
        )
    ]


def require_runnable(
    migration_set: MigrationSet,
    files: Iterable[MigrationFile] | None = None,
    *,
    hint: str | None = None,
) -> None:
    """Raise :class:`SourceError` listing every problem that would stop the runner.

    Directory problems always count; file problems count for ``files``, the files
    about to run (default: every file of the set), so a broken file that was applied
    long ago does not block ``status``, and ``up`` does not parse down files.
    """
    lines = list(migration_set.problems)
    if files is None:
        files = (f for migration in migration_set.migrations for f in migration.files())
    for migration_file in files:
        for problem in runner_problems(migration_file):
            text = f"{migration_file.path}:{problem.line}: {problem.message}"
            if problem.hint:
                text += f" ({problem.hint})"
            lines.append(text)
    if lines:
        raise SourceError(lines, hint=hint)
