"""goose: ``<version>_<name>.sql``, one file with ``-- +goose Up`` and ``-- +goose Down``
sections.

As goose (internal/sqlparser/parser.go): an annotation is a line starting with ``--``
whose rest, trimmed, is ``+goose Up``, ``+goose Down``, ``+goose StatementBegin``,
``+goose StatementEnd`` or ``+goose NO TRANSACTION`` (trailing spaces allowed; the case
of the words is not checked here, so ``-- +goose no transaction`` counts); only
comments and blank lines may precede ``-- +goose Up``; ``NO TRANSACTION`` anywhere
runs both sections outside a transaction. ``StatementBegin`` / ``StatementEnd`` keep
goose from splitting at semicolons: migrator's splitter reads dollar quotes and
strings itself, and ends a block's statement at its ``StatementEnd`` line. ``ENVSUB``
annotations are refused (migrator does not substitute environment variables).
"""

from __future__ import annotations

import re
from pathlib import Path

from migrator.errors import SourceError
from migrator.source.layouts.base import (
    Listing,
    Scan,
    Section,
    SectionedLayout,
    blank,
)

NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<label>.*)\.sql$")
#: a goose Go migration (``goose.AddMigration`` in a custom binary); tests are not
_GO_MIGRATION = re.compile(r"^[0-9]+_.*(?<!_test)\.go$")
_ANNOTATION = re.compile(r"^--[ \t]*\+goose[ \t]+(?P<what>[^\n]*?)[ \t\r]*$", re.MULTILINE)
_HINT = re.compile(r"^--[ \t]*\+goose[ \t]+up\b", re.MULTILINE | re.IGNORECASE)


def sections(path: Path, text: str) -> tuple[Section, Section]:
    """The up and down sections of a goose file. Raises :class:`SourceError`."""
    # the text of each section, built line by line with blanks elsewhere
    out: dict[str, list[str]] = {"up": [], "down": []}
    state = "start"
    in_block = False
    transactional = True
    seen_down = False
    for number, line in enumerate(text.split("\n"), start=1):
        match = _ANNOTATION.match(line) if line.startswith("--") else None
        what = " ".join(match.group("what").lower().split()) if match else ""
        keep = {"up": blank(line), "down": blank(line)}
        if match and what in ("up", "down", "statementbegin", "statementend", "no transaction"):
            if what == "up":
                if state != "start":
                    raise SourceError([f"{path}:{number}: a second `-- +goose Up`: remove it"])
                state = "up"
            elif what == "down":
                if state == "start" or in_block:
                    raise SourceError(
                        [
                            f"{path}:{number}: `-- +goose Down` before `-- +goose Up` or "
                            "inside a StatementBegin block"
                        ]
                    )
                if seen_down:
                    raise SourceError([f"{path}:{number}: a second `-- +goose Down`: remove it"])
                state, seen_down = "down", True
            elif what == "statementbegin":
                if state == "start" or in_block:
                    raise SourceError(
                        [
                            f"{path}:{number}: `-- +goose StatementBegin` outside an Up or "
                            "Down section or inside another block"
                        ]
                    )
                in_block = True
            elif what == "statementend":
                if not in_block:
                    raise SourceError(
                        [f"{path}:{number}: `-- +goose StatementEnd` without StatementBegin"]
                    )
                in_block = False
                # the block's statement ends here, semicolon or not
                keep[state] = ";" + blank(line[1:])
            else:
                transactional = False
        elif match and what.startswith("envsub"):
            raise SourceError(
                [
                    f"{path}:{number}: `-- +goose {match.group('what')}` (environment "
                    "substitution) is not supported: write the values into the SQL"
                ]
            )
        elif state == "start":
            stripped = line.strip()
            if stripped and not stripped.startswith("--"):
                raise SourceError(
                    [f"{path}:{number}: SQL before `-- +goose Up` (goose refuses it): move it"]
                )
        else:
            keep[state] = line
        out["up"].append(keep["up"])
        out["down"].append(keep["down"])
    if state == "start":
        raise SourceError([f"{path}: goose migration without a `-- +goose Up` line: add one"])
    if in_block:
        raise SourceError([f"{path}: `-- +goose StatementBegin` without StatementEnd"])
    up = Section("\n".join(out["up"]), transactional)
    # no Down section: goose runs nothing on the way down (nothing to undo)
    down = Section("\n".join(out["down"]), transactional)
    return up, down


class GooseLayout(SectionedLayout):
    name = "goose"
    name_pattern = NAME
    marker = _HINT

    def sections(self, path: Path, text: str) -> tuple[Section, Section | None]:
        return sections(path, text)

    def scan(self, listing: Listing) -> Scan:
        """As for any sectioned layout, but a Go migration is a problem, not a file to
        ignore: skipping it would run the later versions without it."""
        scan = super().scan(listing)
        go = [path for path in scan.ignored if _GO_MIGRATION.match(path.name)]
        scan.ignored = [path for path in scan.ignored if path not in go]
        scan.problems.extend(
            f"{path}: a goose Go migration: migrator runs SQL only (goose's own CLI refuses "
            "it too unless built into a custom binary): port it to a .sql file of the same "
            "version, or move it out of the directory once every database has run it"
            for path in go
        )
        return scan

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        head = "" if transactional else "-- +goose NO TRANSACTION\n"
        body = f"{head}-- +goose Up\n\n\n-- +goose Down\n\n"
        return [(directory / f"{version}_{name}.sql", body)]
