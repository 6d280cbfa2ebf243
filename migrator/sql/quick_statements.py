"""Statements that add no time to a lock the transaction already holds.

After a statement took ACCESS EXCLUSIVE on a busy table, every further statement of the
transaction keeps its clients waiting (the linter's ``statements-after-access-exclusive``,
the planner's split of the expand migration). Some take no time worth the name and
wait for no lock a client holds, because they touch a sequence, not a table, or read a
table by one index probe:

- ``SELECT`` whose only table access is ``max()``/``min()`` of columns that lead a
  valid btree index of one plain table (no join, no ``GROUP BY``/``HAVING``/``ORDER
  BY``/``LIMIT``/``DISTINCT``/``WITH``, a ``WHERE`` only on the one aggregated
  column): PostgreSQL answers it with one probe of the index (planagg.c). Around the
  aggregates: constants, casts, operators, ``COALESCE``/``GREATEST``/``LEAST``, scalar
  subqueries of the same kind, and the sequence functions ``setval``, ``nextval``,
  ``currval``, ``pg_get_serial_sequence`` (a sequence takes ROW EXCLUSIVE, which no
  client's ``nextval`` conflicts with). The usual shape is ``SELECT setval('t_id_seq',
  COALESCE(max(id), 1)) FROM t``, which makes a key serial (finding F-hostile-3).
- ``ALTER SEQUENCE s OWNED BY t.c`` (nothing else) of a sequence the same transaction
  created: SHARE ROW EXCLUSIVE on a sequence nobody else can use yet, ACCESS SHARE on
  the table. On an older sequence it waits for every transaction that called
  ``nextval`` on it: not quick.

:func:`quick_reads` is the one judgement: the linter and the planner both ask it.
"""

from __future__ import annotations

from typing import Any

from migrator.sql.catalog import Catalog
from migrator.sql.names import QualifiedName, relation_name, strings
from migrator.sql.parse import Node

#: functions that read no table (the sequence functions take ROW EXCLUSIVE on their
#: sequence, which ``nextval`` of a client does not conflict with)
_QUICK_FUNCTIONS = frozenset({"setval", "nextval", "currval", "pg_get_serial_sequence"})

#: aggregates a btree index answers with one probe
_INDEX_AGGREGATES = frozenset({"max", "min"})

#: ``SELECT`` clauses that make PostgreSQL read more than one probe (or write)
_SLOW_CLAUSES = (
    "intoClause",
    "withClause",
    "lockingClause",
    "valuesLists",
    "groupClause",
    "havingClause",
    "sortClause",
    "limitCount",
    "limitOffset",
    "distinctClause",
    "windowClause",
)


class _NotQuick(Exception):
    """The statement may scan a table or wait for a lock."""


def quick_reads(kind: str, fields: Node, catalog: Catalog) -> frozenset[QualifiedName] | None:
    """The tables the statement reads (ACCESS SHARE, one index probe at most) when it
    waits for no lock a client holds and takes no time: see the module docstring.
    ``None`` when it may scan, write or wait."""
    try:
        if kind == "SelectStmt":
            return frozenset(_select(fields, catalog))
        if kind == "AlterSeqStmt":
            return _owned_by(fields, catalog)
    except _NotQuick:
        return None
    return None


def _owned_by(fields: Node, catalog: Catalog) -> frozenset[QualifiedName] | None:
    """``ALTER SEQUENCE s OWNED BY t.c`` of a sequence created in this transaction."""
    options = [option.get("DefElem", {}) for option in fields.get("options") or ()]
    if not options or any(option.get("defname") != "owned_by" for option in options):
        return None
    schema, name = relation_name(fields.get("sequence"))
    origin = catalog.sequence_origin(catalog.resolve(schema, name, kind="sequence"))
    if origin is None or origin != catalog.origin:
        return None  # an older sequence: waits for whoever called nextval on it
    found = set()
    for option in options:
        names = strings((option.get("arg") or {}).get("List", {}).get("items"))
        if len(names) >= 2:
            found.add(catalog.resolve(names[-3] if len(names) > 2 else None, names[-2]))
    return frozenset(found)


def _select(fields: Node, catalog: Catalog) -> set[QualifiedName]:
    """The tables a quick ``SELECT`` reads; :class:`_NotQuick` when it is not one."""
    if (
        not fields.get("targetList")  # or a tree decoded without its clauses
        or fields.get("op", "SETOP_NONE") != "SETOP_NONE"
        or any(fields.get(clause) for clause in _SLOW_CLAUSES)
    ):
        raise _NotQuick
    sources = fields.get("fromClause") or []
    if len(sources) > 1 or (sources and "RangeVar" not in sources[0]):
        raise _NotQuick  # a join, a function or a subquery in FROM
    read: set[QualifiedName] = set()
    aggregated: set[str] = set()
    for target in fields.get("targetList") or ():
        _expression(
            target.get("ResTarget", {}).get("val"), catalog, read, aggregated, bool(sources)
        )
    where = fields.get("whereClause")
    if not sources:
        if where is not None:
            _expression(where, catalog, read, aggregated, False)
        return read
    if not aggregated:
        raise _NotQuick  # one row per row of the table: a scan
    name, table = catalog.relation_of(sources[0]["RangeVar"])
    if table is None or table.kind != "table" or not table.columns_known:
        raise _NotQuick
    for column in aggregated:
        if not any(index.method == "btree" for index in table.indexes_leading_with([column])):
            raise _NotQuick
    if where is not None and (len(aggregated) > 1 or _where_columns(where) - aggregated):
        raise _NotQuick  # the probe finds the first row of the index that matches
    read.add(name)
    return read


def _expression(
    node: Any, catalog: Catalog, read: set[QualifiedName], aggregated: set[str], rows: bool
) -> None:
    """Check one target expression; ``rows``: the query has a table whose aggregates it
    may use. Records the aggregated columns and the tables scalar subqueries read."""
    if not isinstance(node, dict) or len(node) != 1:
        raise _NotQuick
    ((kind, body),) = node.items()
    if kind == "A_Const":
        return
    if kind == "TypeCast":
        _expression(body.get("arg"), catalog, read, aggregated, rows)
    elif kind in ("CoalesceExpr", "MinMaxExpr"):
        for arg in body.get("args") or ():
            _expression(arg, catalog, read, aggregated, rows)
    elif kind == "A_Expr" and body.get("kind") == "AEXPR_OP":
        for side in ("lexpr", "rexpr"):
            if body.get(side) is not None:
                _expression(body[side], catalog, read, aggregated, rows)
    elif kind == "SubLink" and body.get("subLinkType") == "EXPR_SUBLINK":
        read |= _select((body.get("subselect") or {}).get("SelectStmt") or {}, catalog)
    elif kind == "FuncCall":
        _function(body, catalog, read, aggregated, rows)
    else:
        raise _NotQuick


def _function(
    body: Node, catalog: Catalog, read: set[QualifiedName], aggregated: set[str], rows: bool
) -> None:
    names = strings(body.get("funcname"))
    if not names or (len(names) > 1 and names[0] != "pg_catalog"):
        raise _NotQuick
    name = names[-1]
    args = body.get("args") or []
    if name in _INDEX_AGGREGATES and rows:
        column = strings((args[0] if len(args) == 1 else {}).get("ColumnRef", {}).get("fields"))
        if not column or any(
            body.get(key) for key in ("agg_star", "agg_distinct", "agg_filter", "agg_order", "over")
        ):
            raise _NotQuick
        aggregated.add(column[-1])
        return
    if name not in _QUICK_FUNCTIONS or body.get("over") or body.get("agg_star"):
        raise _NotQuick
    for arg in args:
        _expression(arg, catalog, read, aggregated, rows)


def _where_columns(node: Any) -> set[str]:
    """The columns a simple condition compares (operators, AND/OR/NOT, IS [NOT] NULL,
    constants); anything else is not quick."""
    if not isinstance(node, dict) or len(node) != 1:
        raise _NotQuick
    ((kind, body),) = node.items()
    if kind == "A_Const":
        return set()
    if kind == "ColumnRef":
        fields = strings(body.get("fields"))
        if not fields:
            raise _NotQuick
        return {fields[-1]}
    if kind == "TypeCast":
        return _where_columns(body.get("arg"))
    if kind == "NullTest":
        return _where_columns(body.get("arg"))
    if kind == "A_Expr" and body.get("kind") == "AEXPR_OP":
        found: set[str] = set()
        for side in ("lexpr", "rexpr"):
            if body.get(side) is not None:
                found |= _where_columns(body[side])
        return found
    if kind == "BoolExpr":
        found = set()
        for arg in body.get("args") or ():
            found |= _where_columns(arg)
        return found
    raise _NotQuick


def adds_no_time(
    kind: str, fields: Node, catalog: Catalog, held: frozenset[QualifiedName] | set[QualifiedName]
) -> bool:
    """The statement is quick (:func:`quick_reads`) and reads only tables of ``held``
    (locked by the transaction already) or tables the file created (no client has
    them): it waits for no lock and adds no time to the ones held."""
    read = quick_reads(kind, fields, catalog)
    if read is None:
        return False
    for name in read - held:
        table = catalog.table(name)
        if table is None or not catalog.is_new(table):
            return False
    return True
