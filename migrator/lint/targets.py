"""Which files to lint, and the schema each one is linted against.

Every file is linted against the catalog replayed from the migrations before it in its
own directory (version order): an up file after every earlier up; a down file after
every earlier up and its own up (what it reverts is treated as new). A down file that
is no migration of its directory (its up is missing there) is linted with every table
it does not know counted as new: those are the tables its up created.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from migrator.errors import MigratorError, SourceError, UsageError
from migrator.lint.collector import collection_paused
from migrator.lint.engine import FileLinter, LintReport
from migrator.lint.findings import Finding
from migrator.lint.forked import AVAILABLE, Forked
from migrator.lint.live import LiveFacts
from migrator.lint.options import LintOptions
from migrator.lint.registry import RULES_BY_ID
from migrator.source import MigrationSet, discover, load_file
from migrator.source.layouts import DEFAULT as DEFAULT_LAYOUT
from migrator.source.model import Migration, MigrationFile
from migrator.sql.catalog import Catalog
from migrator.sql.file_replay import Replay

if TYPE_CHECKING:  # the cache's module (pickle, tempfile, hashlib) loads only when it is used
    from migrator.lint.cache import CachedFile, LintCache


def lint_paths(
    paths: Sequence[Path],
    *,
    migrations_dir: Path,
    options: LintOptions,
    facts: LiveFacts | None = None,
    cache_root: Path | None = None,
    stdin: tuple[str, bytes] | None = None,
) -> LintReport:
    """Lint ``paths`` (files or directories); with none (and no ``stdin``), the
    migrations directory. ``stdin`` is ``(name, bytes)`` of SQL read from standard
    input: linted on its own, shown under ``name``. With ``cache_root``, findings and
    replayed schemas are kept there and reused (:mod:`migrator.lint.cache`; never
    with live ``facts``).

    Raises :class:`UsageError` for a path that does not exist. Problems inside files
    are findings, never exceptions.
    """
    cache = None
    if cache_root is not None and facts is None:
        from migrator.lint.cache import LintCache

        cache = LintCache(cache_root, options)
    with collection_paused():
        report = _lint_paths(
            paths,
            migrations_dir=migrations_dir,
            options=options,
            facts=facts,
            cache=cache,
            stdin=stdin,
        )
    if cache is not None:
        cache.save()
    return report


def _lint_paths(
    paths: Sequence[Path],
    *,
    migrations_dir: Path,
    options: LintOptions,
    facts: LiveFacts | None,
    cache: LintCache | None,
    stdin: tuple[str, bytes] | None = None,
) -> LintReport:
    report = LintReport(options=options)
    if facts is not None:
        report.live_facts = facts.describe()
    linter = FileLinter(options, facts, report)
    requested: dict[Path, set[Path] | None] = {}
    standalone: list[Path] = []
    if not paths and not stdin and migrations_dir.exists() and not migrations_dir.is_dir():
        raise UsageError(
            f"{migrations_dir} is not a directory",
            hint=f"pass the migrations directory with --dir, or lint the file: "
            f"migrate lint {migrations_dir}",
        )
    for path in paths or ([] if stdin else [migrations_dir]):
        if not path.exists():
            raise UsageError(
                f"{path}: no such file or directory", hint="pass a .sql file or a directory"
            )
        if path.is_dir():
            requested[path.resolve()] = None
        else:
            directory = path.resolve().parent
            wanted = requested.setdefault(directory, set())
            if wanted is not None:
                wanted.add(path.resolve())
    for directory, wanted in requested.items():
        standalone.extend(_lint_directory(linter, directory, wanted, options, cache))
    for path in standalone:
        if _excluded(path, options):
            continue
        try:
            single = load_file(path)
        except SourceError as exc:
            report.findings.append(_file_finding(path, exc.message, options))
            report.files += 1
            continue
        _lint_alone(linter, single, path, cache)
    if stdin is not None:
        name, data = stdin
        try:
            piped = load_file(Path(name), data=data)
        except SourceError as exc:
            report.findings.append(_file_finding(Path(name), exc.message, options))
            report.files += 1
        else:
            first, first_silenced = len(report.findings), len(report.suppressed)
            _lint_alone(linter, piped, Path(name), cache)
            report.findings[first:] = [_piped(finding, name) for finding in report.findings[first:]]
            report.suppressed[first_silenced:] = [
                _piped(finding, name) for finding in report.suppressed[first_silenced:]
            ]
    report.findings.sort(key=Finding.sort_key)
    report.suppressed.sort(key=Finding.sort_key)
    return report


def _nothing_found(migration_set: MigrationSet, options: LintOptions) -> str:
    """The line saying a directory holds no migration; a :class:`UsageError` when one
    of its sub-directories (two levels down) does: the wrong directory was linted."""
    directory = migration_set.directory
    layout = f"{migration_set.layout} layout, {migration_set.layout_origin}"
    folders = sorted(p for p in directory.iterdir() if _searched(p))
    for folder in folders + sorted(q for p in folders for q in p.iterdir() if _searched(q)):
        try:
            found = len(discover(folder, options.layout).migrations)
        except (MigratorError, OSError):
            continue
        if found:
            raise UsageError(
                f"{directory} holds no migrations ({layout}), but its sub-directory "
                f"{folder} holds {found}",
                hint=f"lint that directory: migrate --dir {folder} lint",
            )
    return f"no migrations in {directory} ({layout})"


def _searched(path: Path) -> bool:
    """A sub-directory worth looking into for migrations (not hidden, no dependency
    folder)."""
    return path.is_dir() and not path.name.startswith(".") and path.name != "node_modules"


_DOWN_SUFFIX = ".down.sql"


def _piped(finding: Finding, name: str) -> Finding:
    """A finding of SQL read from standard input: there is no file to give `migrate
    plan`, so its help says to save one first."""
    ending = f"; or run: migrate plan {name}"
    if not finding.help.endswith(ending):
        return finding
    kept = finding.help.removesuffix(ending)
    return replace(finding, help=f"{kept}; or save it to a file and run: migrate plan FILE")


def _lint_alone(
    linter: FileLinter, migration_file: MigrationFile, path: Path, cache: LintCache | None
) -> None:
    """Lint a file that is no migration of its directory against an empty catalog; a
    down file (its up out of reach) counts the tables it does not know as new."""
    display = _display(path)
    key = cache.file_key(cache.ALONE, migration_file, display) if cache else b""
    cached = cache.lookup(key) if cache is not None else None
    if cached is not None:
        _take(linter.report, cached)
        return
    _lint_recorded(
        linter,
        cache,
        key,
        partial(
            linter.lint,
            migration_file,
            Catalog(),
            path.stem,
            display=display,
            unknown_tables_new=path.name.endswith(_DOWN_SUFFIX),
        ),
    )


def _take(report: LintReport, entry: CachedFile) -> None:
    """Count a file whose findings came from the cache."""
    report.add(entry.findings)
    report.internal_errors.extend(entry.internal_errors)
    report.files += 1


def _lint_recorded(
    linter: FileLinter,
    cache: LintCache | None,
    key: bytes,
    lint: Callable[[], list[Finding]],
) -> None:
    """Run ``lint`` (one file, with ``linter``) and, with a cache, keep what it found
    (findings and rule failures) under ``key``."""
    errors_before = len(linter.report.internal_errors)
    silenced_before = len(linter.report.suppressed)
    findings = lint()
    if cache is not None:
        from migrator.lint.cache import CachedFile

        errors = linter.report.internal_errors[errors_before:]
        silenced = linter.report.suppressed[silenced_before:]
        cache.record(key, CachedFile([*findings, *silenced], list(errors)))


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    cwd = _resolved(os.getcwd())
    text = str(path)
    if text.startswith(cwd + "/"):
        return text[len(cwd) + 1 :]
    return text


@functools.lru_cache(maxsize=4)
def _resolved(directory: str) -> str:
    return str(Path(directory).resolve())


def _excluded(path: Path, options: LintOptions) -> bool:
    shown = _display(path)
    return any(
        fnmatch.fnmatch(shown, pattern)
        or fnmatch.fnmatch(path.name, pattern)
        or fnmatch.fnmatch(str(path), pattern)  # patterns of pyproject.toml are absolute
        for pattern in options.exclude_paths
    )


def _file_help(message: str) -> str:
    """What to do about a file the linter cannot read as a migration."""
    if "too large" in message:
        return "split it into smaller migrations, or load bulk data outside migrations (COPY)"
    return "name migrations as the directory's layout does (docs/runner.md), in UTF-8"


def _file_finding(path: Path, message: str, options: LintOptions, line: int = 1) -> Finding:
    rule = RULES_BY_ID["invalid-migration-file"]
    if message.startswith(f"{path}: "):
        message = message[len(f"{path}: ") :]
    return Finding(
        rule=rule.id,
        severity=options.severity_of(rule.id, rule.severity),
        message=message,
        help=_file_help(message),
        file=_display(path),
        line=line,
        column=1,
        end_line=line,
        end_column=1,
    )


#: ``path:12`` of a problem that names its line
_PATH_AND_LINE = re.compile(r"(?P<path>.+):(?P<line>[0-9]+)")


def _problem_place(problem: str) -> tuple[Path | None, int, str]:
    """The file, line and message of a discovery problem (``path: message`` or
    ``path:line: message``); no file for a problem of the whole directory."""
    path_text, sep, message = problem.partition(": ")
    if not sep:
        return None, 1, problem
    place = _PATH_AND_LINE.fullmatch(path_text)
    if place and not Path(path_text).exists() and Path(place.group("path")).exists():
        return Path(place.group("path")), int(place.group("line")), message
    return Path(path_text), 1, message


def _lint_directory(
    linter: FileLinter,
    directory: Path,
    wanted: set[Path] | None,
    options: LintOptions,
    cache: LintCache | None,
) -> list[Path]:
    """Lint the wanted files of one directory (all if ``wanted`` is None); return the
    wanted files that are not migrations of it (linted on their own)."""
    migration_set = discover(directory, options.layout, through=wanted)
    known: dict[Path, tuple[Migration, MigrationFile]] = {}
    for migration in migration_set.migrations:
        for migration_file in migration.files():
            known[migration_file.path] = (migration, migration_file)
    if wanted is None and "invalid-migration-file" not in options.disabled:
        _directory_problems(linter.report, migration_set, options)
    if wanted is None and not migration_set.migrations and not migration_set.problems:
        linter.report.empty.append(_nothing_found(migration_set, options))
    if wanted is not None:
        targets = {p for p in wanted if p in known}
        last = max((known[p][0].version for p in targets), default=-1)
    else:
        targets = set(known)
        last = max((m.version for m in migration_set.migrations), default=-1)
    steps = [m for m in migration_set.migrations if m.version <= last]
    run = _DirectoryRun(linter, directory, targets, options, cache)
    catalog = Catalog()
    if cache is not None and steps:
        run.chains = dict(zip((m.version for m in steps), cache.chains(steps), strict=True))
        if len(steps) > 1:  # editing the newest migration: the schema before it is kept too
            run.before_last = (steps[-1].version, run.chains[steps[-2].version])
        from migrator.lint.cache import resume

        resumed = resume(cache, steps, list(run.chains.values()), run.linted_files)
        for entry in resumed.entries:
            _take(linter.report, entry)
        catalog = resumed.catalog
        for migration in steps[resumed.replayed_from : resumed.cached]:
            replay(migration.up, catalog, f"{migration.label}.up")
        steps = steps[resumed.cached :]
    split = _split_point(steps, targets, directory) if linter.facts is None else None
    if split is None:
        run.lint(steps, catalog)
        run.keep_snapshot(steps, catalog)
    else:
        child = Forked(partial(run.lint_after_replay, steps[:split], steps[split:], catalog))
        try:
            run.lint(steps[:split], catalog.copy())
        except BaseException:  # interrupted: leave no child behind
            child.cancel()
            raise
        merged = child.result()
        if merged is None:  # the child failed: lint the rest here (same result, slower)
            merged = run.lint_after_replay(steps[:split], steps[split:], catalog)
        report, fresh = merged
        linter.report.findings.extend(report.findings)
        linter.report.suppressed.extend(report.suppressed)
        linter.report.files += report.files
        linter.report.internal_errors.extend(report.internal_errors)
        if cache is not None:
            cache.fresh.update(fresh)
    unknown = sorted(p for p in (wanted or set()) if p not in known)
    if "invalid-migration-file" in options.disabled or (
        not migration_set.migrations and migration_set.layout == DEFAULT_LAYOUT
    ):
        return unknown  # not a migration directory: each file is linted on its own
    # a file of a migration directory that discovery refused (a bad name, an orphan
    # down; a broken goose annotation also when it is the only one: the layout was
    # recognised) gets the same finding as when the whole directory is linted
    refused = {place[0]: place for place in map(_problem_place, migration_set.problems) if place[0]}
    for path in unknown:
        if path in refused:
            _, line, message = refused[path]
            linter.report.findings.append(_file_finding(path, message, options, line))
            linter.report.files += 1
    return [path for path in unknown if path not in refused]


#: a directory is linted by two processes from this many migration files, or bytes of
#: SQL, on (below, starting the child costs more than it saves)
PARALLEL_MIN_FILES = 50
PARALLEL_MIN_BYTES = 1_000_000
#: the share of the statements (counted by semicolons) the parent lints: the child
#: replays that share (about a third of the cost of linting it) before linting the
#: rest, so both finish at about one time
_PARENT_SHARE = 0.68


def _split_point(steps: Sequence[Migration], targets: set[Path], directory: Path) -> int | None:
    """Where to cut ``steps`` between parent and child, or ``None`` to lint alone."""
    if not AVAILABLE or len(steps) < 2:
        return None
    linted = [[f for f in m.files() if f.path in targets] for m in steps]
    files = sum(len(fs) for fs in linted)
    if files < PARALLEL_MIN_FILES and sum(f.size for fs in linted for f in fs) < PARALLEL_MIN_BYTES:
        return None
    sizes = [sum(f.weight for f in fs) for fs in linted]
    total = sum(sizes)
    done = 0
    for number, size in enumerate(sizes):
        done += size
        if done >= total * _PARENT_SHARE:
            return min(max(number + 1, 1), len(steps) - 1)
    return len(steps) - 1


class _DirectoryRun:
    """Lints a run of a directory's migrations in version order (see :func:`_lint_directory`)."""

    def __init__(
        self,
        linter: FileLinter,
        directory: Path,
        targets: set[Path],
        options: LintOptions,
        cache: LintCache | None = None,
    ) -> None:
        self.linter = linter
        self.directory = directory
        self.targets = targets
        self.options = options
        self.cache = cache
        #: version -> chain key of the catalog after its up file (with a cache)
        self.chains: dict[int, bytes] = {}
        #: the last migration's version and the chain key of the catalog before it
        self.before_last: tuple[int, bytes] | None = None

    def lint_after_replay(
        self, replayed: Sequence[Migration], linted: Sequence[Migration], catalog: Catalog
    ) -> tuple[LintReport, dict[bytes, CachedFile]]:
        """Replay ``replayed`` (not linted) onto a copy of ``catalog``, then lint
        ``linted``; a report of those, and the cache entries they made."""
        catalog = catalog.copy()
        for migration in replayed:
            replay(migration.up, catalog, f"{migration.label}.up")
        own = LintReport(options=self.options)
        run = _DirectoryRun(
            FileLinter(self.options, self.linter.facts, own),
            self.directory,
            self.targets,
            self.options,
        )
        fresh: dict[bytes, CachedFile] = {}
        if self.cache is not None:
            run.cache = type(self.cache)(self.cache.root, self.options)
            run.chains, run.before_last = self.chains, self.before_last
        run.lint(linted, catalog)
        run.keep_snapshot(linted, catalog)
        if run.cache is not None:
            fresh = run.cache.fresh
        return own, fresh

    def lint(self, migrations: Sequence[Migration], catalog: Catalog) -> None:
        """Lint (or replay, when not wanted) ``migrations`` into ``catalog``, in order."""
        for migration in migrations:
            self.lint_migration(migration, catalog)

    def linted_files(self, migration: Migration) -> list[tuple[MigrationFile, str]]:
        """The files of ``migration`` this run lints, with the names they are shown under."""
        chosen = []
        for migration_file in migration.files():
            path = migration_file.path
            if path in self.targets and not _excluded(path, self.options):
                chosen.append((migration_file, _display(path)))
        return chosen

    def keep_snapshot(self, migrations: Sequence[Migration], catalog: Catalog) -> None:
        """Store ``catalog`` (the schema after ``migrations``) for later runs."""
        if self.cache is not None and migrations:
            self.cache.store_snapshot(self.chains[migrations[-1].version], catalog)

    def lint_migration(self, migration: Migration, catalog: Catalog) -> None:
        up_unit = f"{migration.label}.up"
        linted = dict(self.linted_files(migration))
        if linted and self.cache is not None and self.before_last is not None:
            last_version, chain_before = self.before_last
            if migration.version == last_version:
                self.cache.store_snapshot(chain_before, catalog)
        if migration.up in linted:
            self._lint_file(migration, migration.up, catalog, up_unit, linted[migration.up])
        else:
            replay(migration.up, catalog, up_unit)
        down = migration.down
        if down is not None and down in linted:
            self._lint_file(
                migration,
                down,
                catalog.copy(),
                f"{migration.label}.down",
                linted[down],
                also_new=(up_unit,),
            )

    def _lint_file(
        self,
        migration: Migration,
        migration_file: MigrationFile,
        catalog: Catalog,
        unit: str,
        display: str,
        also_new: tuple[str, ...] = (),
    ) -> None:
        key = b""
        if self.cache is not None:
            key = self.cache.file_key(self.chains[migration.version], migration_file, display)
        _lint_recorded(
            self.linter,
            self.cache,
            key,
            partial(
                self.linter.lint, migration_file, catalog, unit, also_new=also_new, display=display
            ),
        )


def _directory_problems(
    report: LintReport, migration_set: MigrationSet, options: LintOptions
) -> None:
    for problem in migration_set.problems:
        path, line, message = _problem_place(problem)
        report.findings.append(
            _file_finding(path or migration_set.directory, message, options, line)
        )
        report.files += 1


def replay(migration_file: MigrationFile, catalog: Catalog, unit: str) -> None:
    """Replay a file into ``catalog`` without linting it (the one replay,
    :class:`~migrator.sql.file_replay.Replay`, that the planner uses too)."""
    Replay(catalog).file(
        migration_file.statements, unit, transactional=migration_file.transactional
    )
