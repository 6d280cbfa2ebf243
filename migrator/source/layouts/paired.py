"""``<version>_<name>.up.sql`` + ``.down.sql``, or ``<version>_<name>.sql`` (up-only):
migrator's own layout, golang-migrate's, and sqlx's (whose ``-- no-transaction`` first
line runs the file outside a transaction)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from migrator.source.layouts.base import (
    Candidate,
    Layout,
    Listing,
    Scan,
    duplicate_version_problems,
    non_ascii_problem,
    non_ascii_version,
)
from migrator.source.model import MigrationFile

NAME = re.compile(
    r"^(?P<version>[0-9]+)_(?P<name>[^/\\.][^/\\]*?)(?:\.(?P<direction>up|down))?\.sql$"
)
#: sqlx: a first line ``-- no-transaction`` runs the file outside a transaction
_SQLX_NO_TRANSACTION = "-- no-transaction"  # sqlx: sql.starts_with(...)


class PairedLayout(Layout):
    """migrator's own layout. golang-migrate's and sqlx's names are the same, so a
    directory of theirs is detected as this one; sqlx's ``-- no-transaction`` first
    line is honoured in all three."""

    name = "migrator"

    def claims(self, listing: Listing) -> bool:
        return any(NAME.match(name) for name in listing.files)

    def scan(self, listing: Listing) -> Scan:
        scan = Scan()
        directory = listing.directory
        groups: dict[int, dict[str, list[tuple[Path, str, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for name in listing.folders:
            if NAME.match(name):
                scan.problems.append(
                    f"{directory / name}: is a directory, not a file: rename or move it"
                )
            else:
                scan.ignored.append(directory / name)
        for name in listing.files:
            path = directory / name
            match = NAME.match(name)
            if match is None:
                if non_ascii_version(name):
                    scan.problems.append(non_ascii_problem(path))
                elif name.lower().endswith(".sql"):
                    scan.problems.append(
                        f"{path}: name does not parse as <version>_<name>.up.sql, "
                        "<version>_<name>.down.sql or <version>_<name>.sql: rename it"
                    )
                else:
                    scan.ignored.append(path)
                continue
            direction = match.group("direction") or "only"
            groups[int(match.group("version"))][direction].append(
                (path, match.group("version"), match.group("name"))
            )
        for version in sorted(groups):
            found = groups[version]
            ups = found.get("up", []) + found.get("only", [])
            downs = found.get("down", [])
            if len(ups) > 1 or len(downs) > 1:
                clashing = [
                    path for group in (ups, downs) if len(group) > 1 for path, _, _ in group
                ]
                scan.problems.extend(duplicate_version_problems(str(version), clashing))
                continue
            if not ups:
                scan.problems.append(
                    f"{downs[0][0]}: down migration has no up migration: add "
                    f"{downs[0][1]}_{downs[0][2]}.up.sql, or delete it"
                )
                continue
            up_path, version_text, name = ups[0]
            if downs and "only" in found:
                scan.problems.append(
                    f"{downs[0][0]}: down migration has no up migration "
                    f"({up_path.name} is up-only; rename it to .up.sql)"
                )
                continue
            if downs and downs[0][2] != name:
                scan.problems.append(
                    f"{downs[0][0]}: down migration's name does not match {up_path.name}: "
                    "rename one of them"
                )
                continue
            down_path = downs[0][0] if downs else None
            paths = (up_path,) if down_path is None else (up_path, down_path)
            scan.candidates.append(
                Candidate(version, version_text, name, up_path, down_path, paths=paths)
            )
        return scan

    def mark(self, migration_file: MigrationFile, candidate: Candidate) -> MigrationFile:
        if migration_file.head(64).startswith(_SQLX_NO_TRANSACTION):
            return MigrationFile(
                migration_file.path,
                migration_file.direction,
                migration_file.text,
                layout_transactional=False,
            )
        return super().mark(migration_file, candidate)

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        from migrator.runner.scaffold import native_header

        label = f"{version}_{name}"
        return [
            (directory / f"{label}.{direction}.sql", native_header(label, direction, transactional))
            for direction in ("up", "down")
        ]

    def version_of_name(self, name: str) -> str | None:
        match = NAME.match(name)
        return match.group("version") if match else None


class GolangMigrateLayout(PairedLayout):
    """golang-migrate: the same names; nothing in the file changes how it runs."""

    name = "golang-migrate"

    def claims(self, listing: Listing) -> bool:
        return False  # indistinguishable from migrator's own: chosen with --layout

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        label = f"{version}_{name}"
        return [(directory / f"{label}.{direction}.sql", "") for direction in ("up", "down")]


class SqlxLayout(PairedLayout):
    """sqlx: the same names; ``-- no-transaction`` as the first line."""

    name = "sqlx"

    def claims(self, listing: Listing) -> bool:
        return False  # indistinguishable from migrator's own: chosen with --layout

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        label = f"{version}_{name}"
        head = "" if transactional else "-- no-transaction\n"
        return [
            (directory / f"{label}.{direction}.sql", f"{head}-- {label} ({direction})\n\n")
            for direction in ("up", "down")
        ]
