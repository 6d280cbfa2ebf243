"""Walking JSON parse trees: subcommands, options, constants, expression volatility."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from migrator.sql.names import strings
from migrator.sql.parse import Node

Volatility = Literal["constant", "stable", "volatile", "unknown"]

#: built-in functions whose result differs per row: a default calling one rewrites
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "random_normal",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "gen_random_bytes",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
    }
)

#: built-in functions that are immutable or stable: evaluated once for ADD COLUMN
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_setting",
        "lower",
        "upper",
        "length",
        "concat",
        "concat_ws",
        "md5",
        "abs",
        "round",
        "trunc",
        "floor",
        "ceil",
        "to_char",
        "to_date",
        "to_timestamp",
        "to_number",
        "date_trunc",
        "date_part",
        "timezone",
        "make_interval",
        "make_date",
        "make_timestamp",
        "make_timestamptz",
        "jsonb_build_object",
        "jsonb_build_array",
        "json_build_object",
        "json_build_array",
        "to_jsonb",
        "to_json",
        "array_fill",
        "replace",
        "substring",
        "btrim",
        "trim",
        "ltrim",
        "rtrim",
        "format",
        "int4",
        "int8",
        "text",
        "float8",
        "numeric",
        "timestamptz",
        "interval",
        "current_database",
        "current_schema",
        "current_user",
        "session_user",
        "inet_client_addr",
        "pg_backend_pid",
        "uuid_nil",
    }
)

_RANK = {"constant": 0, "stable": 1, "unknown": 2, "volatile": 3}


def alter_commands(fields: Node) -> Iterator[Node]:
    """The ``AlterTableCmd`` nodes of an ``AlterTableStmt``."""
    for item in fields.get("cmds") or ():
        command = item.get("AlterTableCmd") if isinstance(item, dict) else None
        if command:
            yield command


def def_option(options: list[Any] | None, name: str) -> Node | None:
    """The ``DefElem`` named ``name`` in an options list."""
    for option in options or ():
        element = option.get("DefElem") if isinstance(option, dict) else None
        if element and element.get("defname") == name:
            return element  # type: ignore[no-any-return]
    return None


def column_constraints(column_def: Node) -> Iterator[Node]:
    for item in column_def.get("constraints") or ():
        constraint = item.get("Constraint") if isinstance(item, dict) else None
        if constraint:
            yield constraint


#: nodes under which no table is named (column references, constants, type names, the
#: names and values of a node): a walk looking for ``RangeVar`` nodes prunes them
HOLD_NO_TABLE = frozenset(
    {
        "ColumnRef",
        "A_Const",
        "TypeName",
        "ParamRef",
        "A_Star",
        "String",
        "Integer",
        "Float",
        "Boolean",
        "BitString",
    }
)


def walk(node: Any, prune: frozenset[str] = frozenset()) -> Iterator[tuple[str, Node]]:
    """Every ``(kind, fields)`` node under ``node``, depth first; the nodes of a kind in
    ``prune`` are given, but not what is under them."""
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        current = pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if isinstance(value, dict):
                    if key[:1].isupper():
                        yield key, value
                        if key in prune:
                            continue
                    push(value)
                elif isinstance(value, list):
                    push(value)
        elif isinstance(current, list):
            stack.extend(current)


#: fields whose value is a ``RangeVar`` without the node's wrapper (the JSON tree
#: wraps only fields typed as any node)
_RANGE_VAR_FIELDS = ("relation", "pktable", "view", "into")


def range_vars(node: Any) -> Iterator[Node]:
    """Every ``RangeVar`` under ``node`` (``node`` itself included), wrapped in the tree
    or not (``DeleteStmt.relation``, a foreign key's ``pktable``)."""
    for kind, fields in [("", node), *walk(node)]:
        if kind == "RangeVar":
            yield fields
        if not isinstance(fields, dict):
            continue
        for key in _RANGE_VAR_FIELDS:
            value = fields.get(key)
            if isinstance(value, dict) and "relname" in value:
                yield value


def string_constants(node: Any) -> Iterator[str]:
    """Every string constant in ``node``."""
    for kind, fields in walk(node):
        if kind == "A_Const" and "sval" in fields:
            yield fields["sval"].get("sval", "")


def function_name(fields: Node) -> tuple[str | None, str]:
    names = strings(fields.get("funcname"))
    if not names:
        return None, ""
    return (names[-2] if len(names) > 1 else None), names[-1]


#: the value an ``A_Const`` leaves out when it is its kind's zero
_CONSTANT_ZEROS: dict[str, Any] = {"sval": "", "ival": 0, "fval": "0", "boolval": False}
_TRUE_WORDS = frozenset({"t", "true", "y", "yes", "on", "1"})


def constant_text(node: Any) -> str | None:
    """The value of a constant (an ``A_Const`` node) as text, as PostgreSQL would read
    it into a ``text`` argument (``true``/``false`` for a boolean); ``None`` for
    ``NULL`` or anything that is not a constant."""
    constant = node.get("A_Const") if isinstance(node, dict) else None
    if not isinstance(constant, dict) or constant.get("isnull"):
        return None
    for key, zero in _CONSTANT_ZEROS.items():
        if key in constant:
            value = constant[key].get(key, zero)
            return str(value).lower() if key == "boolval" else str(value)
    return None


def set_config_calls(targets: Any) -> Iterator[tuple[str, str | None, bool]]:
    """The ``set_config(name, value, is_local)`` calls of a ``SELECT`` list whose name
    and value are constants: ``(name in lower case, value (None: NULL, which resets the
    setting), is_local)``."""
    for target in targets or ():
        call = target.get("ResTarget", {}).get("val", {}).get("FuncCall")
        if not call or function_name(call) not in _SET_CONFIG_NAMES:
            continue
        args: list[Any] = call.get("args") or []
        if len(args) != 3:
            continue
        name, value = constant_text(args[0]), constant_text(args[1])
        if name is None or (value is None and not args[1].get("A_Const", {}).get("isnull")):
            continue  # no name, or a value known only when it runs
        local = (constant_text(args[2]) or "false").lower() in _TRUE_WORDS
        yield name.lower(), value, local


_SET_CONFIG_NAMES = ((None, "set_config"), ("pg_catalog", "set_config"))


def volatility(expr: Any, known: Mapping[str, str] | None = None) -> Volatility:
    """How a default expression behaves: ``constant`` (or immutable), ``stable``
    (``now()``: one value per statement), ``volatile`` (one per row) or ``unknown``
    (a function the linter does not know). ``known`` maps user function names to the
    volatility their ``CREATE FUNCTION`` declared."""
    worst: Volatility = "constant"
    for kind, fields in walk({"root": expr}):
        found: Volatility = "constant"
        if kind == "FuncCall":
            schema, name = function_name(fields)
            if name in VOLATILE_FUNCTIONS:
                found = "volatile"
            elif known is not None and name in known:
                declared = known[name]
                found = "volatile" if declared == "volatile" else "stable"
            elif name in NON_VOLATILE_FUNCTIONS and schema in (None, "pg_catalog"):
                found = "stable"
            else:
                found = "unknown"
        elif kind in ("SubLink", "NextValueExpr"):
            found = "volatile"
        elif kind == "SQLValueFunction":
            found = "stable"
        if _RANK[found] > _RANK[worst]:
            worst = found
    return worst
