"""The column part of the name PostgreSQL gives an unnamed index (``ChooseIndexColumnNames``
and ``FigureIndexColname``): a plain column by its name, an expression by what it calls
(``lower(email)`` -> ``lower``, ``(email::text)`` -> ``email``, ``coalesce(...)`` ->
``coalesce``) or ``expr``, and a name that repeats gets 1, 2, ... (``(y, y)`` -> ``y``,
``y1``). Read from the JSON parse tree of the index's elements."""

from __future__ import annotations

from collections.abc import Iterable

from migrator.sql.names import MAX_IDENTIFIER_BYTES, strings
from migrator.sql.parse import Node

#: an expression's name when nothing better is known (``(a + 1)``)
EXPRESSION = "expr"

#: expressions named after their kind, whatever their arguments (``FigureColnameInternal``)
_NAMED_KINDS = {
    "CoalesceExpr": "coalesce",
    "A_ArrayExpr": "array",
    "RowExpr": "row",
    "GroupingFunc": "grouping",
}


def index_column_names(elements: Iterable[Node], including: Iterable[Node] = ()) -> tuple[str, ...]:
    """The names PostgreSQL puts in an unnamed index's name, for its ``IndexElem`` nodes
    (the key columns, then the ``INCLUDE`` ones)."""
    chosen: list[str] = []
    for element in (*elements, *including):
        fields = element.get("IndexElem", element)
        original = fields.get("indexcolname") or fields.get("name") or figured(fields.get("expr"))
        name, number = original, 0
        while name in chosen:
            number += 1
            suffix = str(number).encode()
            cut = original.encode()[: MAX_IDENTIFIER_BYTES - len(suffix)]
            name = (cut + suffix).decode("utf-8", "ignore")
        chosen.append(name)
    return tuple(chosen)


def figured(expression: Node | None) -> str:
    """The name PostgreSQL figures for an index expression, ``expr`` if none."""
    name, _ = _figure(expression)
    return name or EXPRESSION


def _figure(node: Node | None) -> tuple[str | None, int]:
    """``FigureColnameInternal``: a name and how sure it is (2: a real name, 1: a type's
    or ``case``, 0: none)."""
    if not node:
        return None, 0
    ((kind, fields),) = node.items()
    if kind == "ColumnRef":
        names = strings(fields.get("fields"))
        return (names[-1], 2) if names else (None, 0)
    if kind == "A_Indirection":
        selected = strings(fields.get("indirection"))  # field names, not subscripts
        return (selected[-1], 2) if selected else _figure(fields.get("arg"))
    if kind == "FuncCall":
        names = strings(fields.get("funcname"))
        return (names[-1], 2) if names else (None, 0)
    if kind == "A_Expr":
        return ("nullif", 2) if fields.get("kind") == "AEXPR_NULLIF" else (None, 0)
    if kind == "TypeCast":
        name, strength = _figure(fields.get("arg"))
        if strength <= 1:
            names = strings((fields.get("typeName") or {}).get("names"))
            if names:
                return names[-1], 1
        return name, strength
    if kind == "CollateClause":
        return _figure(fields.get("arg"))
    if kind == "CaseExpr":
        name, strength = _figure(fields.get("defresult"))
        return ("case", 1) if strength <= 1 else (name, strength)
    if kind == "MinMaxExpr":
        return ("greatest" if fields.get("op") == "IS_GREATEST" else "least"), 2
    if kind in _NAMED_KINDS:
        return _NAMED_KINDS[kind], 2
    return None, 0
