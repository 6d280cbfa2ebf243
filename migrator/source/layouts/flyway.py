"""Flyway: ``V<version>__<description>.sql`` (versioned), ``U<version>__<description>.sql``
(its undo, our down) and ``R__<description>.sql`` (repeatable).

As Flyway: the version's parts are separated by ``.`` or a single ``_`` and compared
part by part as numbers (``V1_2`` < ``V1_10``; ``1.0`` is ``1``); sub-directories are
scanned too, as Flyway scans a location recursively; any other file is ignored; a
``<file>.sql.conf`` beside a script with
``executeInTransaction=false`` runs it outside a transaction. Repeatable migrations
run after the versioned ones, in the order of their descriptions, and again whenever
their checksum changes; they are never reverted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from migrator.errors import SourceError, UsageError
from migrator.source.layouts.base import Candidate, Layout, Listing, Scan, list_directory
from migrator.source.reading import SIDE_FILE_BYTES, read_regular_file
from migrator.source.versions import flyway_key, repeatable_key

NAME = re.compile(r"^(?P<prefix>[VU])(?P<version>[^_]+(?:_[^_]+)*?)__(?P<name>.*)\.sql$")
#: ``V__x.sql``: Flyway refuses a versioned migration without a version
_NO_VERSION = re.compile(r"^[VU]__.*\.sql$")
REPEATABLE = re.compile(r"^R__(?P<name>.+)\.sql$")
_NO_TRANSACTION = re.compile(r"^\s*executeInTransaction\s*=\s*false\s*$", re.MULTILINE)


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
                except UsageError as exc:
                    scan.problems.append(f"{path}: {exc.message}")
                    continue
                scan.candidates.append(
                    Candidate(
                        key,
                        "R",
                        description,
                        path,
                        None,
                        not self._conf_says_no_transaction(path, beside[path]),
                        paths=(path,),
                        repeatable=True,
                    )
                )
                continue
            match = NAME.match(name)
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
                clashing = sorted(str(path) for group in kinds.values() for path, _, _ in group)
                scan.problems.append(
                    f"version {versioned[0][1] if versioned else undos[0][1]} is used by more "
                    "than one migration: "
                    + ", ".join(clashing)
                    + " (Flyway compares 1.0 and 1 equal; give each its own version)"
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
            transactional = all(
                not self._conf_says_no_transaction(p, beside[p])
                for p in ((path,) if undo is None else (path, undo))
            )
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

    @staticmethod
    def _conf_says_no_transaction(path: Path, files: set[str]) -> bool:
        conf = f"{path.name}.conf"
        if conf not in files:
            return False
        try:
            text = read_regular_file(path.parent / conf, SIDE_FILE_BYTES, "a .conf file")
            return bool(_NO_TRANSACTION.search(text.decode("utf-8")))
        except (SourceError, UnicodeDecodeError):
            return False

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
