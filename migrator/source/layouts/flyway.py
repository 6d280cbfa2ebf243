"""Flyway: ``V<version>__<description>.sql`` (versioned), ``U<version>__<description>.sql``
(its undo, our down) and ``R__<description>.sql`` (repeatable).

As Flyway: the version's parts are separated by ``.`` or a single ``_`` and compared
part by part as numbers (``V1_2`` < ``V1_10``; ``1.0`` is ``1``); sub-directories are
scanned too, as Flyway scans a location recursively; any other file is ignored; a
``<file>.sql.conf`` beside a script with
``executeInTransaction=false`` runs it outside a transaction. Repeatable migrations
run after the versioned ones, in the order of their descriptions, and again whenever
their checksum changes; they are never reverted.

What Flyway would do and migrator cannot is refused, never skipped: a SQL callback
(``afterMigrate.sql``, ``beforeEachMigrate__grants.sql``: Flyway runs it around its
commands) and a placeholder (``${schema}``, ``${flyway:user}``: Flyway replaces it, or
refuses the file when no value is configured).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path

from migrator.errors import SourceError, UsageError
from migrator.source.layouts.base import (
    Candidate,
    Layout,
    Listing,
    Scan,
    duplicate_version_problems,
    list_directory,
)
from migrator.source.model import MigrationFile
from migrator.source.reading import SIDE_FILE_BYTES, read_regular_file
from migrator.source.versions import flyway_key, repeatable_key

NAME = re.compile(r"^(?P<prefix>[VU])(?P<version>[^_]+(?:_[^_]+)*?)__(?P<name>.*)\.sql$")
#: ``V__x.sql``: Flyway refuses a versioned migration without a version
_NO_VERSION = re.compile(r"^[VU]__.*\.sql$")
REPEATABLE = re.compile(r"^R__(?P<name>.+)\.sql$")
#: a line of a script configuration file (``V1__x.sql.conf``): ``key=value`` or
#: ``key: value``, as Java properties; ``#`` and ``!`` start a comment line
_CONF_LINE = re.compile(r"^\s*([A-Za-z]+)\s*[=:]\s*(.*?)\s*$")
#: a SQL callback: ``<event>.sql`` or ``<event>__<description>.sql``, the events being
#: ``before...`` / ``after...`` (``afterMigrate``, ``beforeEachMigrateStatement``, ...)
#: and ``createSchema``
CALLBACK = re.compile(r"^(?:(?:before|after)[A-Z][A-Za-z]*|createSchema)(?:__.*)?\.sql$")
#: a placeholder with Flyway's default prefix and suffix
_PLACEHOLDER = re.compile(r"\$\{[^}\n]*\}")


def script_setting(path: Path, key: str, files: Collection[str]) -> bool:
    """A boolean of ``path``'s script configuration file (``<script>.conf`` beside it,
    when ``files`` names one): true when it is not set. Raises :class:`SourceError` for
    a file that cannot be read and for a value that is not ``true`` or ``false`` (in
    any case)."""
    conf = f"{path.name}.conf"
    if conf not in files or not (path.parent / conf).exists():
        return True
    where = path.parent / conf
    try:
        text = read_regular_file(where, SIDE_FILE_BYTES, "a .conf file").decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError([f"{where}: not UTF-8: save the file as UTF-8"]) from None
    for number, line in enumerate(text.splitlines(), start=1):
        found = _CONF_LINE.match(line)
        if line.lstrip().startswith(("#", "!")) or found is None or found.group(1) != key:
            continue
        value = found.group(2).lower()
        if value not in ("true", "false"):
            raise SourceError(
                [f"{where}:{number}: {key}={found.group(2)} is not true or false: write one"]
            )
        return value == "true"
    return True


def _problems(path: Path, exc: UsageError | SourceError) -> list[str]:
    if isinstance(exc, SourceError):
        return exc.problems
    return [f"{path}: {exc.message}"]


def _is_flyway(name: str) -> bool:
    return _may_be_flyway(name) and bool(NAME.match(name) or REPEATABLE.match(name))


def _may_be_flyway(name: str) -> bool:
    """The first letter of a Flyway name (a cheap test before the patterns)."""
    return name.startswith(("V", "U", "R"))


def _walk(listing: Listing, problems: list[str]) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """Every file of the directory and of its sub-directories, as Flyway scans a
    location recursively, with the names of the files beside it; what a sub-directory
    cannot list goes to ``problems``. A directory reached twice (a symlink back up) is
    read once."""
    seen: set[Path] = set()
    pending = [listing]
    while pending:
        current = pending.pop(0)
        real = current.directory.resolve()
        if real in seen:
            continue
        seen.add(real)
        if current is not listing:
            problems.extend(current.problems)
        for name in current.files:
            yield current.directory / name, current.files
        for folder in current.folders:
            try:
                pending.append(list_directory(current.directory / folder))
            except SourceError as exc:
                problems.extend(exc.problems)


class FlywayLayout(Layout):
    name = "flyway"
    scheme = "flyway"

    def claims(self, listing: Listing) -> bool:
        """Flyway files at the top, or in a folder right below it (deeper ones count
        once Flyway is the layout: detecting it never walks a whole tree)."""
        if any(_is_flyway(name) for name in listing.files):
            return True
        for folder in listing.folders:
            try:
                inner = list_directory(listing.directory / folder, _may_be_flyway)
            except SourceError:
                continue
            if any(_is_flyway(name) for name in inner.files):
                return True
        return False

    def scan(self, listing: Listing) -> Scan:
        scan = Scan()
        found: dict[int, dict[str, list[tuple[Path, str, str]]]] = {}
        problems: list[str] = []
        beside: dict[Path, set[str]] = {}
        for path, files in _walk(listing, problems):
            name = path.name
            beside[path] = set(files)
            repeatable = REPEATABLE.match(name)
            if repeatable:
                description = repeatable.group("name")
                try:
                    key = repeatable_key(description)
                    transactional = script_setting(path, "executeInTransaction", files)
                except (UsageError, SourceError) as exc:
                    scan.problems.extend(_problems(path, exc))
                    continue
                scan.candidates.append(
                    Candidate(
                        key,
                        "R",
                        description,
                        path,
                        None,
                        transactional,
                        paths=(path,),
                        repeatable=True,
                    )
                )
                continue
            match = NAME.match(name)
            if match is None and CALLBACK.match(name):
                scan.problems.append(
                    f"{path}: a Flyway SQL callback, which Flyway runs around its commands "
                    "and migrator does not: move its SQL into a migration (a repeatable "
                    "R__ migration runs again whenever it changes), or delete it"
                )
                continue
            if match is None and _NO_VERSION.match(name):
                scan.problems.append(
                    f"{path}: a Flyway migration without a version (Flyway refuses it too): "
                    f"name it {name[0]}<version>__{name[3:]}"
                )
                continue
            if match is None:
                scan.ignored.append(path)
                continue
            try:
                key = flyway_key(match.group("version"))
            except UsageError as exc:
                scan.problems.append(f"{path}: {exc.message}")
                continue
            found.setdefault(key, {}).setdefault(match.group("prefix"), []).append(
                (path, match.group("version"), match.group("name"))
            )
        for key in sorted(found):
            kinds = found[key]
            versioned = kinds.get("V", [])
            undos = kinds.get("U", [])
            if len(versioned) > 1 or len(undos) > 1:
                clashing = [path for group in kinds.values() for path, _, _ in group]
                texts = {text for group in kinds.values() for _, text, _ in group}
                shown = versioned[0][1] if versioned else undos[0][1]
                scan.problems.extend(
                    problem
                    + (
                        ""
                        if len(texts) == 1
                        else f" ({', '.join(sorted(texts))}: Flyway "
                        "compares versions part by part as numbers, so they are one version)"
                    )
                    for problem in duplicate_version_problems(shown, clashing)
                )
                continue
            if not versioned:
                scan.problems.append(
                    f"{undos[0][0]}: undo migration has no V{undos[0][1]}__ migration: "
                    "add it, or delete the undo"
                )
                continue
            path, version, description = versioned[0]
            undo = undos[0][0] if undos else None
            try:
                transactional = all(
                    [
                        script_setting(p, "executeInTransaction", beside[p])
                        for p in ((path,) if undo is None else (path, undo))
                    ]
                )
            except SourceError as exc:
                scan.problems.extend(exc.problems)
                continue
            scan.candidates.append(
                Candidate(
                    key,
                    version,
                    description,
                    path,
                    undo,
                    transactional,
                    paths=(path,) if undo is None else (path, undo),
                )
            )
        scan.problems[:0] = problems
        return scan

    def mark(self, migration_file: MigrationFile, candidate: Candidate) -> MigrationFile:
        """Refuse a placeholder, which Flyway would have replaced (a large file, never
        held in memory, is not searched)."""
        path = migration_file.path
        replaced = script_setting(path, "placeholderReplacement", {f"{path.name}.conf"})
        if replaced and not migration_file.streamed:
            found = _PLACEHOLDER.search(migration_file.text)
            if found is not None:
                line = migration_file.text.count("\n", 0, found.start()) + 1
                raise SourceError(
                    [
                        f"{migration_file.path}:{line}: Flyway placeholder {found.group()}: "
                        "Flyway replaces it with a configured value (or refuses the file "
                        "without one); migrator does not: write the value in its place"
                    ]
                )
        return super().mark(migration_file, candidate)

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        path = directory / f"V{version}__{name}.sql"
        files = [(path, f"-- V{version}__{name}\n\n")]
        if not transactional:
            files.append((directory / f"{path.name}.conf", "executeInTransaction=false\n"))
        return files

    def version_of_name(self, name: str) -> str | None:
        match = NAME.match(name)
        return match.group("version") if match and match.group("prefix") == "V" else None
