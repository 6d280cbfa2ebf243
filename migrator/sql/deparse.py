"""Turn a JSON parse-tree node back into SQL text (used lazily, for definitions).

The catalog keeps JSON nodes; only when someone asks for a definition's SQL (the
planner, a finding's help text) is the node converted to pglast's AST objects and
printed by pglast's own deparser, which is exact but slow, so it is never done in bulk.
"""

from __future__ import annotations

from typing import Any

from migrator.sql.parse import Node

_CONST_KEYS = {"ival": "Integer", "fval": "Float", "sval": "String", "bsval": "BitString"}


def _convert(value: Any, declared: str | None) -> Any:
    """A JSON value as pglast's ``{"@": kind, ...}`` form; ``declared`` is the C type of
    the field holding it (``TypeName*``), used when the JSON does not wrap the node."""
    if isinstance(value, list):
        return tuple(_convert(item, None) for item in value)
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key[:1].isupper() and isinstance(inner, dict):
            if key == "List":
                return tuple(_convert(item, None) for item in inner.get("items", ()))
            return _node(key, inner)
    if declared and declared.endswith("*") and declared[:1].isupper() and declared != "Node*":
        return _node(declared[:-1], value)
    return {key: _convert(item, None) for key, item in value.items()}


def _node(kind: str, fields: Node) -> dict[str, Any]:
    if kind == "A_Const":
        converted: dict[str, Any] = {"@": kind, "isnull": bool(fields.get("isnull"))}
        for key, type_name in _CONST_KEYS.items():
            if key in fields:
                converted["val"] = {"@": type_name, key: fields[key].get(key, 0)}
        if "boolval" in fields:
            converted["val"] = {"@": "Boolean", "boolval": bool(fields["boolval"].get("boolval"))}
        return converted
    if kind == "Integer":
        return {"@": kind, "ival": fields.get("ival", 0)}
    from pglast import ast

    slots = getattr(getattr(ast, kind, None), "__slots__", {})
    converted = {"@": kind}
    for key, item in fields.items():
        name = key + "_" if key + "_" in slots else key  # pglast renames ``def`` to ``def_``
        info = slots.get(name) if isinstance(slots, dict) else None
        converted[name] = _convert(item, info.c_type if info is not None else None)
    return converted


def deparse(kind: str, fields: Node) -> str:
    """The SQL text of one JSON node (a statement, a constraint, an expression).

    Returns an empty string when pglast cannot print the node.
    """
    from pglast import ast
    from pglast.stream import RawStream

    try:
        node = getattr(ast, kind)(_node(kind, fields))
        return str(RawStream()(node))
    except Exception:  # printing is best effort: callers show "" instead
        return ""
