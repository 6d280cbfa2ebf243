"""The ``-- migrate:backfill`` directive: its exact form, parsed and checked without a
database. It is file semantics (the runner reads it; ``migrate lint`` reports a broken
one as ``invalid-directive``; the planner writes it), so it lives with the other
directives in :mod:`migrator.source`.

A backfill migration is one ``UPDATE`` (or ``DELETE``) run in batches by key range::

    -- migrate:phase backfill
    -- migrate:backfill table=public.users key=id batch-size=1000 pause=20ms
    UPDATE public.users SET email_new = email
    WHERE id BETWEEN $1 AND $2 AND email_new IS DISTINCT FROM email;

Options (``name=value``, separated by spaces, any order):

``table``       the table walked, ``schema.name`` or ``name`` (required)
``key``         a column whose values are unique and not null, usually the primary key
                (required)
``batch-size``  rows per batch (default 1000)
``pause``       a duration slept between batches (default 0ms)

The body is exactly one ``UPDATE`` or ``DELETE`` of that table whose ``WHERE`` uses
``$1`` and ``$2``:
the first and last key of the batch (both inclusive). It must only touch rows that
still need it (``new IS DISTINCT FROM old``, ``col IS NULL``), so running a batch twice
changes nothing: that is what makes a backfill resumable. Full text: docs/backfill.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from migrator.durations import parse_duration_ms
from migrator.errors import UsageError
from migrator.source.model import FileProblem, MigrationFile
from migrator.sql.parse import parse_one

DEFAULT_BATCH_SIZE = 1000
DEFAULT_PAUSE_MS = 0
#: the largest batch PostgreSQL's ``LIMIT`` takes (a bigint)
MAX_BATCH_SIZE = 2**63 - 1
OPTIONS = ("table", "key", "batch-size", "pause")

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_TABLE = re.compile(rf"^(?:(?P<schema>{_NAME})\.)?(?P<name>{_NAME})$")
_COLUMN = re.compile(rf"^{_NAME}$")
#: one option: runs of non-space characters, where a double-quoted part may hold spaces
_WORD = re.compile(r'(?:"(?:[^"]|"")*"|[^\s"])+')


@dataclass(frozen=True)
class BackfillSpec:
    """A parsed ``-- migrate:backfill`` directive and the ``UPDATE`` it batches."""

    table: str
    key: str
    schema: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    pause_ms: int = DEFAULT_PAUSE_MS
    #: the UPDATE (or DELETE) statement with ``$1`` (first key) and ``$2`` (last key)
    statement: str = ""

    @property
    def verb(self) -> str:
        """What a batch does to the rows it touches: ``updated`` or ``deleted``."""
        return "deleted" if self.statement.lstrip()[:6].upper() == "DELETE" else "updated"

    def directive(self) -> str:
        """The directive line that parses back to this spec."""
        table = (
            f"{_name_text(self.schema)}.{_name_text(self.table)}"
            if self.schema
            else (_name_text(self.table))
        )
        text = f"-- migrate:backfill table={table} key={_name_text(self.key)}"
        text += f" batch-size={self.batch_size}"
        if self.pause_ms:
            text += f" pause={self.pause_ms}ms"
        return text


def _name_text(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()


def parse_backfill_options(argument: str) -> BackfillSpec:
    """Parse the text after ``-- migrate:backfill``; :class:`UsageError` says what is
    wrong with it."""
    values: dict[str, str] = {}
    for word in _WORD.findall(argument):
        name, sep, value = word.partition("=")
        if not sep or not value:
            raise UsageError(
                f"-- migrate:backfill: {word!r} is not name=value",
                hint="for example: table=public.users key=id batch-size=1000 pause=20ms",
            )
        if name not in OPTIONS:
            raise UsageError(
                f"-- migrate:backfill: unknown option {name!r}",
                hint="options: " + ", ".join(OPTIONS),
            )
        if name in values:
            raise UsageError(f"-- migrate:backfill: {name} is given twice")
        values[name] = value
    for required in ("table", "key"):
        if required not in values:
            raise UsageError(
                f"-- migrate:backfill needs {required}=...",
                hint="for example: table=public.users key=id",
            )
    table = _TABLE.match(values["table"])
    if table is None:
        raise UsageError(f"-- migrate:backfill: table={values['table']!r} is not a table name")
    if not _COLUMN.match(values["key"]):
        raise UsageError(f"-- migrate:backfill: key={values['key']!r} is not a column name")
    batch_size = DEFAULT_BATCH_SIZE
    if "batch-size" in values:
        text = values["batch-size"]
        batch_size = int(text) if re.fullmatch(r"[0-9]{1,19}", text) else 0
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise UsageError(
                f"-- migrate:backfill: batch-size={text!r} is not a whole number from 1 to "
                f"{MAX_BATCH_SIZE}"
            )
    pause_ms = DEFAULT_PAUSE_MS
    if "pause" in values:
        pause_ms = parse_duration_ms(values["pause"], what="-- migrate:backfill pause")
    schema = table.group("schema")
    return BackfillSpec(
        table=_unquote(table.group("name")),
        key=_unquote(values["key"]),
        schema=_unquote(schema) if schema else None,
        batch_size=batch_size,
        pause_ms=pause_ms,
    )


def _parameters(node: Any, found: set[int]) -> None:
    if isinstance(node, dict):
        if "ParamRef" in node:
            found.add(int(node["ParamRef"].get("number", 0)))
        for value in node.values():
            _parameters(value, found)
    elif isinstance(node, list):
        for value in node:
            _parameters(value, found)


def check_backfill_statement(spec: BackfillSpec, statements: list[str]) -> BackfillSpec:
    """``spec`` with its statement, after checking the body is one ``UPDATE`` (or
    ``DELETE``) of the spec's table that uses exactly ``$1`` and ``$2``."""
    if len(statements) != 1:
        raise UsageError(
            "a backfill migration holds exactly one UPDATE or DELETE statement (found "
            f"{len(statements)})",
            hint="see docs/backfill.md",
        )
    text = statements[0]
    parsed = parse_one(text)
    if parsed is None:
        raise UsageError(
            "the backfill statement does not parse", hint="fix the syntax error reported for it"
        )
    kind, fields = parsed
    if kind not in ("UpdateStmt", "DeleteStmt"):
        raise UsageError(
            f"a backfill migration's statement must be an UPDATE or DELETE (found {kind})",
            hint="see docs/backfill.md",
        )
    verb = "UPDATE" if kind == "UpdateStmt" else "DELETE"
    relation = fields["relation"]
    if relation["relname"] != spec.table or (
        spec.schema is not None and relation.get("schemaname", spec.schema) != spec.schema
    ):
        changed = ".".join(filter(None, (relation.get("schemaname"), relation["relname"])))
        wanted = ".".join(filter(None, (spec.schema, spec.table)))
        raise UsageError(
            f"the backfill {verb} changes {changed}, but the directive says table={wanted}"
        )
    assigned = {
        target.get("ResTarget", {}).get("name") for target in fields.get("targetList") or ()
    }
    if kind == "UpdateStmt" and spec.key in assigned:
        raise UsageError(
            f"the backfill UPDATE sets the key it walks ({spec.key}): a row moved past its "
            "batch's range is reached again by a later batch and updated twice",
            hint="walk another unique NOT NULL column (key=...), or change the key in a "
            "migration of its own",
        )
    found: set[int] = set()
    _parameters(fields, found)
    if found != {1, 2}:
        raise UsageError(
            f"the backfill {verb} must use $1 and $2 (first and last key of a batch) and no "
            f"other parameter (found {', '.join(f'${n}' for n in sorted(found)) or 'none'})",
            hint=f"add: WHERE {spec.key} BETWEEN $1 AND $2",
        )
    return BackfillSpec(
        table=spec.table,
        key=spec.key,
        schema=spec.schema,
        batch_size=spec.batch_size,
        pause_ms=spec.pause_ms,
        statement=text,
    )


def backfill_of(directive: str, statements: list[str]) -> BackfillSpec:
    """The checked spec of a backfill migration: its directive text and statements."""
    return check_backfill_statement(parse_backfill_options(directive), statements)


def backfill_problems(migration_file: MigrationFile) -> list[FileProblem]:
    """What is wrong with a file's ``-- migrate:backfill`` (empty when it has none or it
    is right), as file problems the linter and the runner report with their line."""
    directives = migration_file.directives
    if directives.backfill is None:
        return []
    line = directives.backfill_line or 1
    if migration_file.direction == "down":
        return [
            FileProblem(
                "invalid-backfill",
                "-- migrate:backfill runs only in an up file (a down file runs as a plain "
                "migration, where $1 and $2 have no value)",
                line,
                1,
                "undo the data change with a plain statement, or make the migration "
                "up-only and write a new migration that reverts it",
            )
        ]
    try:
        backfill_of(directives.backfill, [s.text for s in migration_file.statements])
    except UsageError as exc:
        return [FileProblem("invalid-backfill", exc.message, line, 1, exc.hint)]
    if not migration_file.transactional:
        return [
            FileProblem(
                "invalid-backfill",
                "-- migrate:backfill runs its own short transactions: drop "
                "-- migrate:no-transaction",
                line,
            )
        ]
    return []
