"""The parse tree's enumerations that the AST users (:mod:`migrator.sql.syntax`) compare
against: PostgreSQL's own C enums (``parsenodes.h``) as pglast generates them, typed
(``IntEnum`` subclasses with stubs), so ``command.subtype ==
AlterTableType.AT_AddColumn`` is checked by mypy.

The JSON tree (:mod:`migrator.sql.parse`) spells the same members as strings
(``"AT_AddColumn"``); a member's ``name`` is that string.
"""

from __future__ import annotations

from pglast.enums import (
    A_Expr_Kind,
    AlterTableType,
    BoolExprType,
    ConstrType,
    DropBehavior,
    FunctionParameterMode,
    NullTestType,
    ObjectType,
    ReindexObjectType,
)

__all__ = [
    "A_Expr_Kind",
    "AlterTableType",
    "BoolExprType",
    "ConstrType",
    "DropBehavior",
    "FunctionParameterMode",
    "NullTestType",
    "ObjectType",
    "ReindexObjectType",
]
