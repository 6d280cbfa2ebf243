"""Facts about single statements that the runner needs before it sends anything.

Each function parses one statement with pglast (JSON output: no Python AST objects)
and answers from the node types, so a ``CONCURRENTLY`` inside a string or comment
never counts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from migrator.sql import deep
from migrator.sql.libpg import pg_parser


@lru_cache(maxsize=4096)
def statement_node(text: str) -> tuple[str, dict[str, Any]] | None:
    """``(node type, node fields)`` of the one statement in ``text``; ``None`` if it
    does not parse."""
    try:
        tree = deep.loads(pg_parser.parse_sql_json(text))
    except pg_parser.ParseError:
        return None
    statements = tree.get("stmts") or []
    if not statements:
        return None
    node = statements[0]["stmt"]
    ((kind, fields),) = node.items()
    return kind, fields


def _has_concurrent_flag(kind: str, fields: dict[str, Any]) -> bool:
    if kind in ("IndexStmt", "DropStmt", "ReindexStmt"):
        if fields.get("concurrent"):
            return True
        params = fields.get("params") or []
        return any(p.get("DefElem", {}).get("defname") == "concurrently" for p in params)
    if kind == "AlterTableStmt":
        for command in fields.get("cmds") or []:
            partition = command.get("AlterTableCmd", {}).get("def", {}).get("PartitionCmd", {})
            if partition.get("concurrent"):
                return True
    return False


_NEVER_IN_TRANSACTION = {
    "VacuumStmt": "VACUUM",
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "AlterSystemStmt": "ALTER SYSTEM",
    "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
}


#: the only statement kinds for which :func:`non_transactional_reason` or
#: :func:`transaction_control` can answer anything but ``None`` (a caller that knows a
#: statement's kind can skip parsing the others)
TRANSACTION_SENSITIVE_KINDS = frozenset(
    {
        "IndexStmt",
        "DropStmt",
        "ReindexStmt",
        "AlterTableStmt",
        "ClusterStmt",
        "DropSubscriptionStmt",
        "TransactionStmt",
        *_NEVER_IN_TRANSACTION,
    }
)


def non_transactional_reason(text: str) -> str | None:
    """Why ``text`` cannot run inside a transaction block, or ``None`` if it can."""
    parsed = statement_node(text)
    return None if parsed is None else reason_outside_transaction(*parsed)


def reason_outside_transaction(kind: str, fields: dict[str, Any]) -> str | None:
    """:func:`non_transactional_reason` of a statement parsed already."""
    if _has_concurrent_flag(kind, fields):
        return "it uses CONCURRENTLY"
    return refused_in_transaction(kind, fields)


def refused_in_transaction(kind: str, fields: dict[str, Any]) -> str | None:
    """Why PostgreSQL refuses a statement of this ``kind`` (with these fields) inside
    a transaction block, ``CONCURRENTLY`` aside; ``None`` if it does not."""
    if kind == "VacuumStmt" and not fields.get("is_vacuumcmd"):
        return None  # ANALYZE (the same node, without VACUUM) runs in a transaction
    if kind in _NEVER_IN_TRANSACTION:
        return f"{_NEVER_IN_TRANSACTION[kind]} cannot run in a transaction block"
    if kind == "ClusterStmt" and not fields.get("relation"):
        return "CLUSTER without a table cannot run in a transaction block"
    if kind == "DropSubscriptionStmt":
        return "DROP SUBSCRIPTION cannot run in a transaction block"
    if kind == "ReindexStmt" and fields.get("kind") in _REINDEX_MANY:
        return f"{_REINDEX_MANY[fields['kind']]} cannot run in a transaction block"
    return None


#: REINDEX of many tables at once: each table gets its own transaction, so PostgreSQL
#: refuses these inside a transaction block (checked on PostgreSQL 15)
_REINDEX_MANY = {
    "REINDEX_OBJECT_SCHEMA": "REINDEX SCHEMA",
    "REINDEX_OBJECT_DATABASE": "REINDEX DATABASE",
    "REINDEX_OBJECT_SYSTEM": "REINDEX SYSTEM",
}


#: statements that change the defaults of *new* sessions (``ALTER DATABASE ... SET`` /
#: ``RESET``, ``ALTER ROLE|USER ... [IN DATABASE ...] SET`` / ``RESET``): a session
#: already open keeps what it started with
NEW_SESSION_DEFAULTS = frozenset({"AlterDatabaseSetStmt", "AlterRoleSetStmt"})


#: ``ALTER DATABASE|ROLE|USER ... SET|RESET`` in a ``DO`` body, directly or in a string
#: it ``EXECUTE``s: how a migration names its own database (``current_database()``)
_NEW_DEFAULTS_IN_BODY = re.compile(
    r"\balter\s+(?:database|role|user)\b[^;]*?\b(?:set|reset)\b", re.IGNORECASE
)


def changes_new_session_defaults(kind: str | None, text: str = "") -> bool:
    """Whether a statement of node type ``kind`` (``text``) changes what later sessions
    start with (a session open already does not see it): ``ALTER DATABASE ... SET``,
    ``ALTER ROLE ... SET``, or a ``DO`` block that runs one."""
    if kind in NEW_SESSION_DEFAULTS:
        return True
    return kind == "DoStmt" and _NEW_DEFAULTS_IN_BODY.search(text) is not None


def transaction_control(text: str) -> str | None:
    """The keyword (``BEGIN``, ``COMMIT`` ...) when ``text`` controls the transaction."""
    parsed = statement_node(text)
    return None if parsed is None else transaction_keyword(*parsed)


def transaction_keyword(kind: str, fields: dict[str, Any]) -> str | None:
    """:func:`transaction_control` of a statement parsed already."""
    if kind != "TransactionStmt":
        return None
    return str(fields.get("kind", "")).removeprefix("TRANS_STMT_").replace("_", " ")


def transaction_modes(fields: dict[str, Any]) -> str | None:
    """The modes of a ``BEGIN`` / ``START TRANSACTION`` (``ISOLATION LEVEL
    SERIALIZABLE, READ ONLY``) as ``SET TRANSACTION`` takes them; ``None`` without."""
    modes = []
    for option in fields.get("options") or ():
        element = option.get("DefElem", {})
        value = element.get("arg", {}).get("A_Const", {})
        if element.get("defname") == "transaction_isolation":
            modes.append("ISOLATION LEVEL " + str(value.get("sval", {}).get("sval", "")).upper())
        elif element.get("defname") == "transaction_read_only":
            modes.append("READ ONLY" if value.get("ival", {}).get("ival") else "READ WRITE")
        elif element.get("defname") == "transaction_deferrable":
            modes.append("DEFERRABLE" if value.get("ival", {}).get("ival") else "NOT DEFERRABLE")
    return ", ".join(modes) or None


def session_setting(kind: str, fields: dict[str, Any]) -> bool:
    """A ``SET`` / ``RESET`` whose effect lasts for the session (``SET ROLE``, ``SET
    SESSION AUTHORIZATION``, ``SET search_path``, ``RESET ALL``, ``SET SESSION
    CHARACTERISTICS``): not ``SET LOCAL`` or ``SET TRANSACTION``, which end with their
    transaction."""
    return (
        kind == "VariableSetStmt"
        and not fields.get("is_local")
        and fields.get("name") != "TRANSACTION"
    )


def only_sets_config(kind: str, fields: dict[str, Any]) -> bool:
    """``SELECT set_config('name', 'value', false)`` (several such calls allowed) with
    constant arguments and nothing else: it only sets the session, so sending it again
    restores what it did."""
    if kind != "SelectStmt" or set(fields) - {"targetList", "limitOption", "op"}:
        return False
    targets = fields.get("targetList") or []
    for target in targets:
        call = (target.get("ResTarget") or {}).get("val", {}).get("FuncCall")
        if call is None or set(call) - {"funcname", "args", "funcformat", "location"}:
            return False
        name = [part.get("String", {}).get("sval") for part in call.get("funcname", [])]
        if name not in (["set_config"], ["pg_catalog", "set_config"]):
            return False
        if any("A_Const" not in argument for argument in call.get("args", [])):
            return False
    return bool(targets)


#: ``set_config`` called anywhere in a statement that runs code
_SET_CONFIG_CALL = re.compile(r"\bset_config\s*\(", re.IGNORECASE)
#: a ``SET`` / ``RESET`` command of a session setting inside a PL/pgSQL body, directly
#: or in a string it ``EXECUTE``s (not ``SET LOCAL``, ``SET CONSTRAINTS``, ``SET
#: TRANSACTION``; an ``UPDATE ... SET`` follows a table name, never these)
_SET_IN_BODY = re.compile(
    r"(?:^|[;']|\b(?:begin|then|else|loop)\b)\s*"
    r"(?:set\s+(?:session\b|role\b|[a-z_][a-z0-9_.]*\s*(?:=|\bto\b))"
    r"|reset\s+(?!local\b)[a-z_])",
    re.IGNORECASE,
)
#: statements that define code without running it
_DEFINES_CODE = frozenset({"CreateFunctionStmt", "CreateTrigStmt", "RuleStmt", "CommentStmt"})


def may_change_session(kind: str | None, text: str) -> bool:
    """Whether a statement that is neither a plain ``SET`` / ``RESET`` nor a lone
    ``SELECT set_config(...)`` may still have changed its session's settings: a
    ``set_config`` call inside another statement, a ``SET`` in a ``DO`` block. Such a
    change cannot be replayed by sending the statement again (it does more than set
    the session), so a resume after it must be refused rather than run without it."""
    if kind in _DEFINES_CODE:
        return False
    if _SET_CONFIG_CALL.search(text):
        return True
    return kind == "DoStmt" and _SET_IN_BODY.search(text) is not None


def copy_from_stdin(text: str) -> bool:
    """``COPY ... FROM STDIN``: its data would follow in psql, not in SQL."""
    parsed = statement_node(text)
    if parsed is None or parsed[0] != "CopyStmt":
        return False
    fields = parsed[1]
    return (
        bool(fields.get("is_from")) and not fields.get("filename") and not fields.get("is_program")
    )


def index_built_if_not_exists(text: str) -> tuple[str | None, str, str] | None:
    """``(table schema, table, index name)`` when ``text`` is ``CREATE INDEX
    CONCURRENTLY IF NOT EXISTS name ON ...``: a statement that silently keeps an INVALID
    index of that name left by an earlier failed build."""
    if "exists" not in text.lower():  # cheap: most statements are not such a build
        return None
    parsed = statement_node(text)
    if parsed is None or parsed[0] != "IndexStmt":
        return None
    fields = parsed[1]
    name = fields.get("idxname")
    relation = fields.get("relation") or {}
    if not (fields.get("concurrent") and fields.get("if_not_exists") and name):
        return None
    return relation.get("schemaname"), str(relation.get("relname", "")), str(name)


def batchable_change(kind: str, fields: dict[str, Any], schema: str | None = None) -> bool:
    """An ``UPDATE t [alias] SET col = expr, ... [FROM ...] [WHERE ...]`` or ``DELETE
    FROM t [alias] [USING ...] [WHERE ...]`` (no ``RETURNING``, ``WITH`` or multi-column
    assignment), that does not read the table it changes (:func:`reads_itself`): what
    ``migrate plan`` rewrites into a batched backfill, its condition kept and a key range
    added. ``schema``: where an unqualified table name resolves (see :func:`reads_itself`)."""
    if kind not in ("UpdateStmt", "DeleteStmt"):
        return False
    if fields.get("returningClause") or fields.get("withClause") or reads_itself(fields, schema):
        return False
    targets = [item.get("ResTarget") or {} for item in fields.get("targetList") or ()]
    return all(
        "MultiAssignRef" not in (t.get("val") or {}) and not t.get("indirection") for t in targets
    )


def reads_itself(fields: dict[str, Any], search_schema: str | None = None) -> bool:
    """An ``UPDATE`` or ``DELETE`` that reads the table it changes (in ``FROM``,
    ``USING``, a subquery of its ``SET`` or ``WHERE``). One statement sees the table as
    it was before it; batches of it would each see what the batches before changed.

    ``search_schema`` is where an unqualified name resolves (``orders`` and
    ``archive.orders`` differ when it is ``public``); unknown, a name matches in any
    schema."""
    relation = fields.get("relation") or {}
    name = relation.get("relname")
    schema = relation.get("schemaname") or search_schema
    parts = [fields.get(key) for key in ("fromClause", "usingClause", "whereClause", "targetList")]
    return any(_names_relation(part, name, schema, search_schema) for part in parts if part)


def _names_relation(node: Any, name: Any, schema: Any, search_schema: str | None) -> bool:
    if isinstance(node, dict):
        found = node.get("RangeVar")
        if found is not None and found.get("relname") == name:
            other = found.get("schemaname") or search_schema
            if other is None or schema is None or other == schema:
                return True
        return any(_names_relation(value, name, schema, search_schema) for value in node.values())
    if isinstance(node, list):
        return any(_names_relation(item, name, schema, search_schema) for item in node)
    return False
