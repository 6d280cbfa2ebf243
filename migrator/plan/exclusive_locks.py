"""Where the shared expand migration ends: after each change that takes ACCESS
EXCLUSIVE on an existing table.

PostgreSQL holds a lock until the transaction commits. After a statement that took
ACCESS EXCLUSIVE on a busy table, every further statement of the same transaction
keeps every client of that table waiting (the linter's
``statements-after-access-exclusive``). A change file that adds a column to three
tables therefore becomes three short expand migrations, each committing its lock at
once, instead of one that holds the first table while it waits for the second.

A split makes what the statements before it did visible before what the statements
after it do, so it is made only where nothing can be missing in between: every
statement since the last split only adds (``CREATE ...``, ``ADD COLUMN``, ``ADD
CONSTRAINT``, ``SET DEFAULT``, what the planner itself plans for the expand phase).
After one that removes or replaces something (``DROP VIEW``, ``DROP CONSTRAINT``,
``ALTER COLUMN ... TYPE``), the statements that follow may be what fills the gap, so
they keep sharing its transaction, and the linter says so. Nor is a file split that
changes a session setting (``SET search_path``): the statements after a split would
run without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from migrator.plan.model import Change, Slot
from migrator.sql.catalog import Catalog
from migrator.sql.locks import Lock, statement_locks
from migrator.sql.parse import Node, ParsedStatement, parse_text
from migrator.sql.split import Statement

#: the slots of transactional expand migrations that several changes share
EXPAND_SLOTS = frozenset({Slot.EXPAND, Slot.EXPAND_LATE})

#: statements that only add to the schema or the data: running code misses nothing
#: while the statements after them have not run yet
_ADDING_KINDS = frozenset(
    {
        "CreateStmt",
        "CreateTableAsStmt",
        "IndexStmt",
        "ViewStmt",
        "CreateFunctionStmt",
        "CreateTrigStmt",
        "CreateSeqStmt",
        "CreateEnumStmt",
        "CompositeTypeStmt",
        "CreateDomainStmt",
        "CreateSchemaStmt",
        "CreateExtensionStmt",
        "DefineStmt",
        "CommentStmt",
        "InsertStmt",
    }
)

#: ``ALTER TABLE`` subcommands that only add
_ADDING_COMMANDS = frozenset({"AT_AddColumn", "AT_AddConstraint", "AT_AddIdentity"})


class ExpandSplitter:
    """Marks, change by change in file order, the changes after which the expand
    migration ends (:attr:`Change.ends_expand`). The planner calls :meth:`mark` before
    it applies a statement to ``catalog`` and :meth:`applied` after."""

    def __init__(self, catalog: Catalog, statements: Sequence[Statement]) -> None:
        self._catalog = catalog
        self._enabled = not any(_sets_session(statement) for statement in statements)
        #: a statement since the last split removed or replaced something
        self._removed = False
        self._part = 1
        catalog.begin_file(self._unit)

    @property
    def _unit(self) -> str:
        return f"the change, part {self._part}"

    def mark(self, planned: Sequence[Change]) -> list[Change]:
        """``planned`` (the changes of one statement), with the ones that end the
        expand migration marked."""
        marked = []
        for change in planned:
            if self._enabled and change.passthrough and not _adds_only(change):
                self._removed = True
            if self._enabled and not self._removed and self._locks_existing(change):
                change = dataclasses.replace(change, ends_expand=True)
            marked.append(change)
        return marked

    def applied(self, planned: Sequence[Change]) -> None:
        """The statement of ``planned`` is in the catalog now: after a split, what the
        file created so far counts as existing (the next migration runs after it)."""
        if any(change.ends_expand for change in planned):
            self._part += 1
            self._removed = False
            self._catalog.begin_file(self._unit)

    def _locks_existing(self, change: Change) -> bool:
        """Some expand step of ``change`` takes ACCESS EXCLUSIVE on an existing table."""
        for step in change.steps:
            if step.slot not in EXPAND_SLOTS:
                continue
            for statement in parse_text(step.sql) or ():
                if _locks_exclusively(statement, self._catalog):
                    return True
        return False


def _sets_session(statement: Statement) -> bool:
    """The statement changes a session setting (or its tree is unknown: assume so)."""
    return statement.tree is None or statement.tree.kind == "VariableSetStmt"


def _locks_exclusively(statement: ParsedStatement, catalog: Catalog) -> bool:
    for range_var, lock in statement_locks(statement.kind, statement.fields):
        if lock is not Lock.ACCESS_EXCLUSIVE:
            continue
        _, table = catalog.relation_of(range_var)
        if table is None or (not table.system and not catalog.is_new(table)):
            return True  # a table no migration creates came before them: it has rows
    return False


def _adds_only(change: Change) -> bool:
    """Every statement of a passed-through change only adds."""
    statements = parse_text(change.source)
    return statements is not None and all(_adds(statement) for statement in statements)


def _adds(statement: ParsedStatement) -> bool:
    if statement.fields.get("replace"):  # CREATE OR REPLACE: what ran before changes
        return False
    if statement.kind in _ADDING_KINDS:
        return True
    if statement.kind != "AlterTableStmt":
        return False
    commands: list[Node] = [c.get("AlterTableCmd", {}) for c in statement.fields.get("cmds") or ()]
    return bool(commands) and all(_adding_command(command) for command in commands)


def _adding_command(command: Node) -> bool:
    subtype = command.get("subtype")
    if subtype == "AT_ColumnDefault":  # SET DEFAULT adds; DROP DEFAULT (no def) removes
        return bool(command.get("def"))
    return subtype in _ADDING_COMMANDS
