"""Schema files as text: normalising ``pg_dump --schema-only`` output into a stable
``schema.sql``, and reading one back (statements to load, roles it needs, the ledger
versions it records). Pure: no database, no processes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from migrator.errors import UsageError
from migrator.sql.parse import parse_one
from migrator.sql.split import split_statements

#: First line of every file ``migrate schema dump`` writes.
HEADER = "-- migrator schema dump: regenerate with `migrate schema dump`; do not edit by hand"
#: The line that records which migrations the dumped database had applied.
APPLIED_PREFIX = "-- migrator:applied-versions"
#: The fixed session settings a schema file is loaded with (instead of pg_dump's,
#: whose set varies with its version).
PREAMBLE = (
    "SET client_encoding = 'UTF8';",
    "SET standard_conforming_strings = on;",
    "SET check_function_bodies = false;",
    "SET client_min_messages = warning;",
    "SELECT pg_catalog.set_config('search_path', '', false);",
)

# pg_dump lines that carry version noise, random keys, or settings we replace.
_NOISE = re.compile(
    r"^(?:\\restrict\b.*|\\unrestrict\b.*"
    r"|-- Dumped (?:from database|by pg_dump) version.*"
    r"|-- Started on .*|-- Completed on .*"
    r"|SET [a-z_]+ = .*;"
    r"|SELECT pg_catalog\.set_config\('search_path', '', false\);)$"
)
_COPY_START = re.compile(r"^COPY\s+(?P<table>\S+)\s*\((?P<columns>[^)]*)\)\s+FROM\s+stdin;\s*$")


def normalise_dump(text: str, applied_versions: Iterable[int] = ()) -> str:
    """``pg_dump --schema-only --no-owner`` output as a deterministic schema file:
    our header, the applied versions, a fixed preamble, then pg_dump's statements
    without version comments, ``\\restrict`` keys or its ``SET`` lines, with runs of
    blank lines collapsed."""
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if _NOISE.match(stripped):
            continue
        if not stripped and (not body or not body[-1]):
            continue
        body.append(stripped)
    while body and body[-1] in ("", "--", "-- PostgreSQL database dump complete"):
        body.pop()
    while body and body[0] in ("", "--", "-- PostgreSQL database dump"):
        body.pop(0)
    if body and body[0].startswith("-- "):
        body.insert(0, "--")
    versions = sorted(set(applied_versions))
    head = [HEADER]
    if versions:
        head.append(f"{APPLIED_PREFIX} {','.join(str(v) for v in versions)}")
    return "\n".join([*head, "", *PREAMBLE, "", *body]) + "\n"


@dataclass(frozen=True)
class SchemaFile:
    """A schema file ready to load."""

    #: statements in file order (psql meta-commands and COPY data removed)
    statements: tuple[str, ...]
    #: the line each statement starts on
    lines: tuple[int, ...]
    #: versions the file says were applied (our header, or the ledger's COPY data)
    applied_versions: tuple[int, ...]
    #: roles the statements name (grants, policies, owners): they must exist to load
    roles: tuple[str, ...]


def _copy_versions(lines: list[str], start: int, columns: list[str]) -> tuple[list[int], int]:
    """Versions from a ``COPY ledger (...) FROM stdin`` block; returns them and the
    index of the line after the terminating ``\\.``."""
    versions: list[int] = []
    position = columns.index("version") if "version" in columns else -1
    state = columns.index("state") if "state" in columns else -1
    index = start
    while index < len(lines) and lines[index] != "\\.":
        fields = lines[index].split("\t")
        if 0 <= position < len(fields) and (state < 0 or fields[state] == "applied"):
            with contextlib.suppress(ValueError):
                versions.append(int(fields[position]))
        index += 1
    return versions, index + 1


def _strip_psql(text: str, path: str, ledger_table: str) -> tuple[str, list[int]]:
    """Remove ``\\restrict`` lines and COPY data blocks (keeping the ledger's versions);
    refuse any other psql meta-command, naming the line."""
    lines = text.splitlines()
    kept: list[str] = []
    versions: list[int] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        copy = _COPY_START.match(line)
        if copy:
            columns = [c.strip().strip('"') for c in copy.group("columns").split(",")]
            found, index = _copy_versions(lines, index + 1, columns)
            if copy.group("table").split(".")[-1].strip('"') == ledger_table:
                versions += found
            kept.append("")
            continue
        if line.startswith("\\"):
            if not re.match(r"^\\(?:un)?restrict\b", line):
                raise UsageError(
                    f"{path}:{index + 1}: psql meta-command {line.split()[0]} in a schema file",
                    hint="give a file from `migrate schema dump` or `pg_dump --schema-only`",
                )
            kept.append("")
        else:
            kept.append(line)
        index += 1
    return "\n".join(kept), versions


def _role_names(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("roletype") == "ROLESPEC_CSTRING" and isinstance(node.get("rolename"), str):
            found.add(node["rolename"])
        for value in node.values():
            _role_names(value, found)
    elif isinstance(node, list):
        for item in node:
            _role_names(item, found)


def _roles_in(statements: Iterable[str]) -> tuple[str, ...]:
    found: set[str] = set()
    for statement in statements:
        parsed = parse_one(statement)
        if parsed is not None:
            _role_names(parsed[1], found)
    return tuple(sorted(found))


def read_schema_file(
    text: str, *, path: str = "schema.sql", ledger_table: str = "migrator_ledger"
) -> SchemaFile:
    """Parse a schema file (ours or ``pg_dump --schema-only`` output)."""
    header_versions: list[int] = []
    for line in text.splitlines()[:5]:
        if line.startswith(APPLIED_PREFIX):
            header_versions = [int(v) for v in line[len(APPLIED_PREFIX) :].split(",") if v.strip()]
    sql, copied = _strip_psql(text, path, ledger_table)
    split = split_statements(sql)
    if split.syntax_error is not None:
        problem = split.syntax_error
        raise UsageError(
            f"{path}:{problem.line}:{problem.column}: the schema file does not parse: "
            f"{problem.message}",
            hint="give a file from `migrate schema dump` or `pg_dump --schema-only`",
        )
    statements = tuple(statement.text for statement in split.statements)
    return SchemaFile(
        statements=statements,
        lines=tuple(statement.line for statement in split.statements),
        applied_versions=tuple(sorted(set(header_versions) | set(copied))),
        roles=_roles_in(statements),
    )
