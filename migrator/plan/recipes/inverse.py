"""The down of a statement that passes through as written, when one follows from the
statement alone: what ``CREATE`` made, ``DROP`` removes. ``None`` when no down can be
derived (``CREATE OR REPLACE`` and ``IF NOT EXISTS`` may have met an object that was
there before; grants, comments and data changes have no inverse the planner knows)."""

from __future__ import annotations

from typing import Any

from migrator.plan.sql_text import ident, qualified
from migrator.sql.enums import FunctionParameterMode, ObjectType
from migrator.sql.syntax import deparse, kind_of


def _relation(node: Any) -> str:
    return qualified(node.schemaname, node.relname)


def _dotted(names: Any) -> str:
    return ".".join(ident(name.sval) for name in names)


def _function(statement: Any) -> str | None:
    if statement.replace:
        return None
    kind = "PROCEDURE" if statement.is_procedure else "FUNCTION"
    arguments = [
        deparse(parameter.argType)
        for parameter in statement.parameters or ()
        if parameter.mode
        not in (FunctionParameterMode.FUNC_PARAM_OUT, FunctionParameterMode.FUNC_PARAM_TABLE)
    ]
    return f"DROP {kind} IF EXISTS {_dotted(statement.funcname)}({', '.join(arguments)})"


def _created(statement: Any) -> str | None:
    """The ``DROP`` of what ``statement`` creates, or ``None``."""
    if getattr(statement, "if_not_exists", False):
        return None
    if kind_of(statement) == "CreateStmt":
        return f"DROP TABLE IF EXISTS {_relation(statement.relation)}"
    if kind_of(statement) == "CreateSeqStmt":
        return f"DROP SEQUENCE IF EXISTS {_relation(statement.sequence)}"
    if kind_of(statement) == "ViewStmt":
        return None if statement.replace else f"DROP VIEW IF EXISTS {_relation(statement.view)}"
    if kind_of(statement) == "CreateTableAsStmt":
        if statement.into is None:
            return None
        kind = "MATERIALIZED VIEW" if statement.objtype == ObjectType.OBJECT_MATVIEW else "TABLE"
        return f"DROP {kind} IF EXISTS {_relation(statement.into.rel)}"
    if kind_of(statement) in ("CreateEnumStmt", "CreateRangeStmt"):
        return f"DROP TYPE IF EXISTS {_dotted(statement.typeName)}"
    if kind_of(statement) == "CompositeTypeStmt":
        return f"DROP TYPE IF EXISTS {_relation(statement.typevar)}"
    if kind_of(statement) == "CreateDomainStmt":
        return f"DROP DOMAIN IF EXISTS {_dotted(statement.domainname)}"
    if kind_of(statement) == "CreateSchemaStmt":
        if statement.schemaElts or not statement.schemaname:
            return None
        return f"DROP SCHEMA IF EXISTS {ident(statement.schemaname)}"
    if kind_of(statement) == "CreateExtensionStmt" and statement.extname:
        return f"DROP EXTENSION IF EXISTS {ident(statement.extname)}"
    if kind_of(statement) == "CreateFunctionStmt":
        return _function(statement)
    if kind_of(statement) == "CreateTrigStmt":
        if statement.replace or not statement.trigname:
            return None
        return (
            f"DROP TRIGGER IF EXISTS {ident(statement.trigname)} ON {_relation(statement.relation)}"
        )
    return None


def derived_down(statement: Any) -> tuple[str, ...] | None:
    """The statements that undo ``statement`` (a parsed pglast node), or ``None``."""
    drop = _created(statement)
    return None if drop is None else (drop,)
