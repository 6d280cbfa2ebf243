"""Which table locks a statement takes (postgres-facts.md, "Lock levels").

Only the locks that block reads or writes matter to the linter and the planner: SHARE
(blocks writes), SHARE ROW EXCLUSIVE (blocks writes), ACCESS EXCLUSIVE (blocks
everything).
"""

from __future__ import annotations

import enum

from migrator.sql.parse import Node


class Lock(enum.IntEnum):
    """Table lock levels that block reads or writes, weakest first."""

    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


#: ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE
_ALTER_LOCKS: dict[str, Lock | None] = {
    "AT_ValidateConstraint": None,  # SHARE UPDATE EXCLUSIVE
    "AT_SetStatistics": None,
    "AT_SetOptions": None,
    "AT_ResetOptions": None,
    "AT_ClusterOn": None,
    "AT_DropCluster": None,
    "AT_AttachPartition": None,  # SHARE UPDATE EXCLUSIVE on the parent
    "AT_DetachPartitionFinalize": None,  # SHARE UPDATE EXCLUSIVE on the parent
    "AT_EnableTrig": Lock.SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrig": Lock.SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigAll": Lock.SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigAll": Lock.SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigUser": Lock.SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigUser": Lock.SHARE_ROW_EXCLUSIVE,
}


def _alter_command_lock(command: Node) -> Lock | None:
    subtype = command.get("subtype", "")
    if subtype in _ALTER_LOCKS:
        return _ALTER_LOCKS[subtype]
    if subtype == "AT_AddConstraint":
        constraint = command.get("def", {}).get("Constraint", {})
        if constraint.get("contype") == "CONSTR_FOREIGN":
            return Lock.SHARE_ROW_EXCLUSIVE
    partition = command.get("def", {}).get("PartitionCmd", {})
    if subtype == "AT_DetachPartition" and partition.get("concurrent"):
        return None
    return Lock.ACCESS_EXCLUSIVE


def _has_option(fields: Node, name: str) -> bool:
    for option in fields.get("options") or fields.get("params") or ():
        if option.get("DefElem", {}).get("defname") == name:
            return True
    return False


def statement_locks(kind: str, fields: Node) -> list[tuple[Node, Lock]]:
    """``(RangeVar node, lock)`` for each table the statement locks in a blocking mode.

    ``DROP INDEX`` is reported by the engine (it needs the catalog to find the table).
    """
    if kind == "AlterTableStmt":
        if fields.get("objtype") not in (None, "OBJECT_TABLE", "OBJECT_MATVIEW"):
            return []
        locks = [_alter_command_lock(c.get("AlterTableCmd", {})) for c in fields.get("cmds") or ()]
        strongest = max((lock for lock in locks if lock is not None), default=None)
        return [(fields.get("relation") or {}, strongest)] if strongest else []
    if kind == "IndexStmt":
        if fields.get("concurrent"):
            return []
        return [(fields.get("relation") or {}, Lock.SHARE)]
    if kind == "RenameStmt" and fields.get("renameType") in (
        "OBJECT_TABLE",
        "OBJECT_COLUMN",
        "OBJECT_TABCONSTRAINT",
    ):
        return [(fields.get("relation") or {}, Lock.ACCESS_EXCLUSIVE)]
    if kind == "TruncateStmt":
        return [
            (item.get("RangeVar", {}), Lock.ACCESS_EXCLUSIVE)
            for item in fields.get("relations") or ()
        ]
    if kind == "VacuumStmt" and _has_option(fields, "full"):
        return [
            (item.get("VacuumRelation", {}).get("relation", {}), Lock.ACCESS_EXCLUSIVE)
            for item in fields.get("rels") or ()
        ]
    if kind == "ClusterStmt" and fields.get("relation"):
        return [(fields["relation"], Lock.ACCESS_EXCLUSIVE)]
    if (
        kind == "ReindexStmt"
        and not _has_option(fields, "concurrently")
        and fields.get("relation")
        and fields.get("kind") == "REINDEX_OBJECT_TABLE"
    ):
        return [(fields["relation"], Lock.SHARE)]
    if kind == "CreateTrigStmt":
        return [(fields.get("relation") or {}, Lock.SHARE_ROW_EXCLUSIVE)]
    if kind == "RuleStmt":
        return [(fields.get("relation") or {}, Lock.ACCESS_EXCLUSIVE)]
    return []
