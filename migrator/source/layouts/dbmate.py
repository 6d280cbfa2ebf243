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
    Section,
    SectionedLayout,
    keep_only,
)

NAME = re.compile(r"^(?P<version>[0-9]+)(?P<label>.*)\.sql$")
#: a marker line (CRLF files too: dbmate's ``(.*)$`` takes the ``\r`` as options)
_UP = re.compile(r"^--\s*migrate:up(?P<options>[ \t][^\n]*)?\r?$", re.MULTILINE)
_DOWN = re.compile(r"^--\s*migrate:down(?P<options>[ \t][^\n]*)?\r?$", re.MULTILINE)
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


class DbmateLayout(SectionedLayout):
    name = "dbmate"
    name_pattern = NAME
    marker = _MARKER_HINT

    def label(self, match: re.Match[str]) -> str:
        return match.group("label").lstrip("_")

    def sections(self, path: Path, text: str) -> tuple[Section, Section | None]:
        return sections(path, text)

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        option = "" if transactional else " transaction:false"
        body = f"-- migrate:up{option}\n\n\n-- migrate:down{option}\n\n"
        return [(directory / f"{version}_{name}.sql", body)]
