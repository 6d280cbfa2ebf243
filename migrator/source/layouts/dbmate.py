"""dbmate: ``<version>_<name>.sql``, one file with a ``-- migrate:up`` and a
``-- migrate:down`` section; ``transaction:false`` after either marker runs that
section outside a transaction.

As dbmate (pkg/dbmate/migration.go): the version is the leading digits of the name,
any ``.sql`` name starting with digits is a migration, the markers stand at the start
of a line (``--``, optional spaces, ``migrate:up``), only comments and blank lines may
precede ``-- migrate:up``, and ``-- migrate:down`` must follow it. Unlike recent dbmate,
a file without ``-- migrate:down`` is accepted, its down doing nothing (as dbmate
before 2.0).
"""

from __future__ import annotations

import re
from pathlib import Path

from migrator.errors import SourceError
from migrator.source.layouts.base import (
    Candidate,
    Layout,
    Listing,
    Scan,
    Section,
    file_of,
    keep_only,
    non_ascii_problem,
    non_ascii_version,
    read_text,
)
from migrator.source.model import MigrationFile

NAME = re.compile(r"^(?P<version>[0-9]+)(?P<rest>.*)\.sql$")
_UP = re.compile(r"^--\s*migrate:up(?P<options>[ \t][^\n]*)?$", re.MULTILINE)
_DOWN = re.compile(r"^--\s*migrate:down(?P<options>[ \t][^\n]*)?$", re.MULTILINE)
_MARKER_HINT = re.compile(r"^--\s*migrate:(up|down)\b", re.MULTILINE)


def _transactional(options: str | None) -> bool:
    pairs = dict(pair.split(":", 1) for pair in (options or "").split() if pair.count(":") == 1)
    return pairs.get("transaction") != "false"


def sections(path: Path, text: str) -> tuple[Section, Section | None]:
    """The up and down sections of a dbmate file. Raises :class:`SourceError`."""
    up = _UP.search(text)
    down = _DOWN.search(text)
    if up is None:
        raise SourceError([f"{path}: dbmate migration without a `-- migrate:up` line: add one"])
    if down is not None and down.start() < up.start():
        raise SourceError([f"{path}: `-- migrate:down` stands before `-- migrate:up`: swap them"])
    for number, line in enumerate(text[: up.start()].split("\n"), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            raise SourceError(
                [f"{path}:{number}: SQL before `-- migrate:up` (dbmate refuses it): move it below"]
            )
    up_end = down.start() if down else len(text)
    up_section = Section(keep_only(text, up.end(), up_end), _transactional(up.group("options")))
    if down is None:  # as dbmate before 2.0: nothing to undo
        return up_section, Section(keep_only(text, len(text), len(text)), up_section.transactional)
    return up_section, Section(
        keep_only(text, down.end(), len(text)), _transactional(down.group("options"))
    )


class DbmateLayout(Layout):
    name = "dbmate"

    def claims(self, listing: Listing) -> bool:
        for name in listing.files:
            if NAME.match(name) and not name.endswith((".up.sql", ".down.sql")):
                try:
                    return bool(_MARKER_HINT.search(read_text(listing.directory / name)))
                except SourceError:
                    return False
        return False

    def scan(self, listing: Listing) -> Scan:
        scan = Scan()
        directory = listing.directory
        scan.ignored.extend(directory / name for name in listing.folders)
        for name in listing.files:
            path = directory / name
            match = NAME.match(name)
            if match is None:
                if non_ascii_version(name):
                    scan.problems.append(non_ascii_problem(path))
                else:
                    scan.ignored.append(path)
                continue
            label = match.group("rest").lstrip("_")
            version = match.group("version")
            scan.candidates.append(
                Candidate(int(version), version, label, path, path, paths=(path,))
            )
        return scan

    def load(self, candidate: Candidate) -> tuple[MigrationFile, MigrationFile | None]:
        text = read_text(candidate.up)
        up, down = sections(candidate.up, text)
        return (
            file_of(candidate.up, "up", up),
            file_of(candidate.up, "down", down) if down else None,
        )

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        option = "" if transactional else " transaction:false"
        body = f"-- migrate:up{option}\n\n\n-- migrate:down{option}\n\n"
        return [(directory / f"{version}_{name}.sql", body)]

    def version_of_name(self, name: str) -> str | None:
        match = NAME.match(name)
        return match.group("version") if match else None
