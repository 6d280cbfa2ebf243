"""The rows of a table as the data changes of a change file will leave them, and the
conditions (NOT NULL, a check, a unique key) the plan makes them satisfy: SQL that
finds, before anything changed, the rows the naive file would fail on.

A data change is a layer over the rows before it: an ``UPDATE`` gives every column it
sets ``CASE WHEN (its WHERE) THEN (value) ELSE column END``, a ``DELETE`` keeps the rows
its ``WHERE`` does not select. The layers are plain ``SELECT``s: reading them changes
nothing and takes no lock a client waits for. Pure: :mod:`.prechecks` decides when the
plan needs them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from migrator.plan.sql_text import excerpt, ident, literal

ConditionKind = Literal["not_null", "check", "unique", "foreign_key", "unchecked"]

#: the SQLSTATE names PostgreSQL fails with when the naive statement meets such a row
_ERRCODES: dict[ConditionKind, str] = {
    "not_null": "not_null_violation",
    "check": "check_violation",
    "unique": "unique_violation",
    "foreign_key": "foreign_key_violation",
}


@dataclass(frozen=True)
class RowChange:
    """What one data change (an ``UPDATE`` or ``DELETE`` of the file, or a fill of
    NULLs the plan adds) does to the rows of its table."""

    schema: str
    table: str
    #: the table as the change names it (qualified as written)
    table_sql: str
    #: the columns of the table then, ``(name, type as SQL)``
    columns: tuple[tuple[str, str], ...]
    #: the row condition as SQL (``true`` when there is none)
    where: str = "true"
    #: ``(column, value as SQL)``; empty for a ``DELETE``
    assignments: tuple[tuple[str, str], ...] = ()
    delete: bool = False
    alias: str | None = None
    #: ``FROM ONLY``: the rows of inheriting tables are not changed
    only: bool = False
    #: columns the ``WHERE`` requires to be NULL (a top-level ``c IS NULL`` conjunct):
    #: a row whose ``c`` is written is no longer changed
    null_tested: frozenset[str] = frozenset()
    #: why the rows it leaves cannot be computed beforehand ("" when they can)
    opaque: str = ""
    #: the plan's own fill (of NULLs with the default), not a statement of the file
    fill: bool = False
    #: the ``FROM`` (``UPDATE``) or ``USING`` (``DELETE``) items as SQL ("" when none)
    joined: str = ""
    #: the tables ``joined`` reads, ``(schema, name)``: their rows must be as the
    #: check finds them (no earlier data change of the file on them)
    reads: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Condition:
    """What the plan makes every row of a table satisfy, and the statement that asks."""

    schema: str
    table: str
    table_sql: str
    kind: ConditionKind
    #: the statement of the file it comes from
    source: str
    columns: tuple[str, ...] = ()
    #: a check's expression as SQL
    expression: str = ""
    #: for ``unchecked``: why the planner cannot check it beforehand
    why: str = ""
    #: enforced after the backfill phase (a ``VALIDATE``, ``SET NOT NULL``), where a
    #: failure comes after the data changes ran; else in the expand phase, where it
    #: fails before them (but still checks the rows they write)
    late: bool = True
    #: for ``foreign_key`` (MATCH SIMPLE): the referenced table ``(schema, name, as
    #: the statement names it)`` and its columns, in the order of :attr:`columns`
    references: tuple[str, str, str] | None = None
    referenced_columns: tuple[str, ...] = ()
    #: a constraint the data change itself runs under (the table's, not the file's):
    #: checked where the rows it leaves can be computed, else left to the batches
    runs_under: bool = False
    #: for ``unchecked``: the change's own first expand step checks it (a type
    #: change's conversion check), so a failure rolls back that expand transaction
    checked_in_expand: bool = False


def rows_after(table_sql: str, only: bool, layers: Sequence[RowChange]) -> str:
    """A ``SELECT`` of the table's rows as ``layers`` (its data changes, in order)
    leave them. An ``UPDATE``'s row is the old row with the columns it sets replaced
    (``jsonb_populate_record``: whatever columns the table has when the check runs)."""
    sql = f"SELECT * FROM {'ONLY ' if only else ''}{table_sql}"
    for layer in layers:
        alias = ident(layer.alias or layer.table)
        # with FROM / USING, a row is changed when a row of the joined items meets the
        # WHERE (correlated with the row), and takes its values from one such row (the
        # statement takes an unspecified one where several match: so does LIMIT 1)
        selected = (
            f"EXISTS (SELECT FROM {layer.joined} WHERE {layer.where})"
            if layer.joined
            else f"({layer.where})"
        )
        if layer.delete:
            sql = f"SELECT * FROM ({sql}) AS {alias} WHERE NOT coalesce({selected}, false)"
            continue
        pairs = ", ".join(
            f"{literal(column)}, CASE WHEN {selected} THEN {_value(layer, column, value)} "
            f"ELSE {ident(column)} END"
            for column, value in layer.assignments
        )
        changed = (
            f"jsonb_populate_record(NULL::{table_sql}, "
            f"to_jsonb({alias}.*) || jsonb_build_object({pairs}))"
        )
        sql = (
            f"SELECT (migrator_row).* FROM (SELECT {changed} AS migrator_row "
            f"FROM ({sql}) AS {alias} OFFSET 0) AS migrator_rows"
        )
    return sql


def _value(layer: RowChange, column: str, value: str) -> str:
    """What an ``UPDATE`` layer sets ``column`` to (``value`` as SQL), cast as the
    assignment casts it; with ``FROM``, read from one joined row that meets the
    ``WHERE``."""
    cast = f"CAST(({value}) AS {dict(layer.columns)[column]})"
    if not layer.joined:
        return cast
    return f"(SELECT {cast} FROM {layer.joined} WHERE {layer.where} LIMIT 1)"


def unknown_columns(layer: RowChange) -> list[str]:
    """The columns ``layer`` sets whose type the planner does not know."""
    types = dict(layer.columns)
    return [column for column, _ in layer.assignments if column not in types]


def violated(condition: Condition, rows: str, referenced_rows: str = "") -> str:
    """An expression true when a row of ``rows`` (a ``SELECT``) breaks ``condition``;
    ``referenced_rows``: for a foreign key, the referenced table's rows (a ``SELECT``)."""
    alias = ident(condition.table)
    if condition.kind == "foreign_key":
        assert referenced_rows, "a foreign key is checked against the referenced rows"
        present = " AND ".join(f"{alias}.{ident(c)} IS NOT NULL" for c in condition.columns)
        pairs = zip(condition.referenced_columns, condition.columns, strict=True)
        match = " AND ".join(f"migrator_parent.{ident(k)} = {alias}.{ident(c)}" for k, c in pairs)
        return (
            f"EXISTS (SELECT FROM ({rows}) AS {alias} WHERE {present} AND NOT EXISTS "
            f"(SELECT FROM ({referenced_rows}) AS migrator_parent WHERE {match}))"
        )
    if condition.kind == "not_null":
        where = " OR ".join(f"{ident(c)} IS NULL" for c in condition.columns)
        return f"EXISTS (SELECT FROM ({rows}) AS {alias} WHERE {where})"
    if condition.kind == "check":
        return f"EXISTS (SELECT FROM ({rows}) AS {alias} WHERE NOT ({condition.expression}))"
    assert condition.kind == "unique", condition.kind
    names = ", ".join(ident(c) for c in condition.columns)
    present = " AND ".join(f"{ident(c)} IS NOT NULL" for c in condition.columns)
    return (
        f"EXISTS (SELECT FROM ({rows}) AS {alias} WHERE {present} GROUP BY {names} "
        "HAVING count(*) > 1)"
    )


#: the dollar quote of the check's body
_QUOTE = "$migrator_check$"


def check_block(checks: Sequence[tuple[Condition, str]]) -> str | None:
    """A ``DO`` block that fails, with the SQLSTATE the naive statement fails with, at
    the first condition a row breaks: ``checks`` are ``(condition, violation
    expression)``. ``None`` when the SQL would contain the block's own quote."""
    lines = ["DO " + _QUOTE, "BEGIN"]
    for condition, violation in checks:
        message = (
            f"{excerpt(condition.source, 80)}: rows as the data changes before it leave them "
            f"violate it ({_what(condition)}); nothing was changed"
        )
        lines += [
            f"  IF {violation} THEN",
            f"    RAISE EXCEPTION USING ERRCODE = {literal(_ERRCODES[condition.kind])},",
            f"      MESSAGE = {literal(message)},",
            "      HINT = 'fix those rows first, or change the file so that the naive SQL "
            "succeeds, then plan it again';",
            "  END IF;",
        ]
    lines += ["END", _QUOTE]
    text = "\n".join(lines)
    return None if text.count(_QUOTE) != 2 else text


def _what(condition: Condition) -> str:
    names = ", ".join(condition.columns)
    if condition.kind == "not_null":
        return f"{condition.table}.{names} would be NULL"
    if condition.kind == "unique":
        return f"{condition.table} would hold equal ({names})"
    if condition.kind == "foreign_key" and condition.references is not None:
        parent = condition.references[1]
        return f"a row of {condition.table} would have no {parent} row for ({names})"
    return f"a row of {condition.table} would fail CHECK ({condition.expression})"
