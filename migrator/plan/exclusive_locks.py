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

Nor is a table split from what completes it: while a later statement of the file
alters a table this expand migration locked (``SET DEFAULT`` or a constraint on the
column just added, a trigger on it, a comment, another subcommand of the same ``ALTER
TABLE``), the migration goes on until that statement, which runs under the lock already
held (catalog only; marked with the lint-ignore that says why). Splits fall only between
different tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from migrator.plan.catalog_facts import CHANGE_UNIT
from migrator.plan.model import CannotPlan, Change, Slot, Step
from migrator.sql.catalog import Catalog, Table
from migrator.sql.file_replay import Replay
from migrator.sql.locks import Lock, statement_locks
from migrator.sql.names import QualifiedName, strings
from migrator.sql.parse import Node, ParsedStatement
from migrator.sql.quick_statements import adds_no_time, quick_reads
from migrator.sql.split import Statement
from migrator.sql.tree import range_vars

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

#: statements that may run under the ACCESS EXCLUSIVE lock of the table they complete
#: (catalog only: held for milliseconds longer)
_CATALOG_ONLY_KINDS = frozenset(
    {
        "AlterTableStmt",
        "CreateTrigStmt",
        "CreateFunctionStmt",
        "CommentStmt",
        "GrantStmt",
        "CreatePolicyStmt",
        # a view (not a materialized one) of tables the migration locked already: the
        # catalog only (lemmy's 0080 creates the views it dropped over the table again)
        "ViewStmt",
    }
)

#: statements that take no lock worth holding up (the linter's view too)
_HARMLESS_KINDS = frozenset({"VariableSetStmt", "VariableShowStmt", "CommentStmt"})

#: comment targets whose last name is not the table's
_COMMENTED_PARTS = {"OBJECT_COLUMN": 1, "OBJECT_TABCONSTRAINT": 1, "OBJECT_TRIGGER": 1}


class ExpandSplitter:
    """Marks, change by change in file order, the changes after which the expand
    migration ends (:attr:`Change.ends_expand`). The planner calls :meth:`mark` before
    it applies a statement to the replay's catalog and :meth:`applied` after."""

    def __init__(
        self, replaying: Replay, statements: Sequence[Statement], units: Sequence[Statement] = ()
    ) -> None:
        self._replay = replaying
        self._catalog = replaying.catalog
        #: the units the file is planned as (:func:`~migrator.plan.changes.planning_units`)
        self._units = [[] if unit.parsed is None else [unit.parsed] for unit in units]
        self._enabled = not any(_sets_session(statement) for statement in statements)
        #: a statement since the last split removed or replaced something other than
        #: views (views dropped are in :attr:`_dropped_views` until created again)
        self._replaced = False
        #: views dropped since the last split that no statement created again yet
        self._dropped_views: set[QualifiedName] = set()
        #: existing tables the expand migration so far locked ACCESS EXCLUSIVE
        self._locked: set[QualifiedName] = set()
        self._part = 1
        replaying.begin_file(self._unit)

    @property
    def _unit(self) -> str:
        return f"{CHANGE_UNIT}, part {self._part}"

    def mark(self, planned: Sequence[Change], position: int = -1) -> list[Change]:
        """``planned`` (the changes of unit ``position``), with the ones that end the
        expand migration marked: never before a later unit that completes a table
        the migration locked."""
        later = (
            [u for u in self._units[position + 1 :] if not _built_apart(u)] if position >= 0 else []
        )
        marked = []
        for index, change in enumerate(planned):
            # the rest of this unit (a column's constraints) in this transaction, and
            # the units after it (a foreign key added after its index is built runs in
            # a migration of its own: it does not keep this one going)
            following = [
                step.statements or []
                for rest in planned[index + 1 :]
                for step in rest.steps
                if step.slot is Slot.EXPAND
            ]
            removed_before = self._removed
            self._note_removals(change)
            if self._locked:
                try:
                    change = self._completing(change)
                except CannotPlan:
                    # it cannot run under the lock; a new migration may start with it
                    # when what came before only added and nothing after it completes
                    # what is locked
                    if (
                        not self._enabled
                        or (removed_before and not self._only_analyze_from(change, position))
                        or self._locked & self._touched_by([*following, *later])
                    ):
                        raise
                    change = dataclasses.replace(change, starts_expand=True)
                    self._start_part()
                    self._note_removals(change)
            self._locked |= self._exclusively_locked(change)
            if (
                self._enabled
                and not self._removed
                and self._locked
                and not (self._locked & self._touched_by([*following, *later]))
            ):
                change = dataclasses.replace(change, ends_expand=True)
                self._locked = set()  # the next change starts the next migration
            marked.append(change)
        return marked

    @property
    def _removed(self) -> bool:
        """A gap is open since the last split: something removed or replaced, or a view
        dropped and not created again under its name."""
        return self._replaced or bool(self._dropped_views)

    def _note_removals(self, change: Change) -> None:
        """What ``change`` (a statement passed through) removes, and the views it creates
        again: a removal's gap is closed once every view it dropped is created again
        under its name (lemmy's 0080: ``DROP VIEW person_alias_1, person_alias_2; ALTER
        TABLE person ADD COLUMN ...; CREATE VIEW person_alias_1 ...; CREATE VIEW
        person_alias_2 ...`` may end its migration there; hostile's refusals pattern P2)."""
        if not self._enabled or not change.passthrough:
            return
        for step in change.steps:
            if step.statements is None:
                self._replaced = True  # a statement not parsed: what it removes is unknown
            for statement in step.statements or ():
                self._note_removal(statement)

    def _note_removal(self, statement: ParsedStatement) -> None:
        fields = statement.fields
        if statement.kind == "ViewStmt":
            self._dropped_views.discard(self._catalog.created_relation(fields.get("view"))[0])
        elif (
            statement.kind == "DropStmt"
            and fields.get("removeType") == "OBJECT_VIEW"
            and fields.get("behavior") != "DROP_CASCADE"
        ):
            for item in fields.get("objects") or ():
                names = strings(item.get("List", {}).get("items"))
                schema = names[-2] if len(names) > 1 else None
                self._dropped_views.add(self._catalog.resolve(schema, names[-1]))
        elif not _adds(statement, self._catalog):
            self._replaced = True

    def _only_analyze_from(self, change: Change, position: int) -> bool:
        """``change`` and every unit after it are ``ANALYZE`` (lemmy's 0223: ``ALTER
        COLUMN url TYPE varchar(2000); ANALYZE post (url)``): they fill no gap a removal
        before them leaves, and nothing after them can, so they may run after the
        commit, in a migration of their own, instead of sampling under the lock."""
        statements = [s for step in change.steps for s in step.statements or ()]
        units = [statements, *self._units[position + 1 :]]
        return position >= 0 and all(unit and all(map(_analyzes, unit)) for unit in units)

    def applied(self, planned: Sequence[Change]) -> None:
        """The statement of ``planned`` is in the catalog now: after a split, what the
        file created so far counts as existing (the next migration runs after it)."""
        if any(change.ends_expand for change in planned):
            self._start_part()

    def _start_part(self) -> None:
        """The next expand migration: what the file created so far counts as existing."""
        self._part += 1
        self._replaced = False
        self._dropped_views = set()
        self._locked = set()
        self._replay.begin_file(self._unit)

    def _exclusively_locked(self, change: Change) -> set[QualifiedName]:
        """The existing tables the expand steps of ``change`` lock ACCESS EXCLUSIVE."""
        found: set[QualifiedName] = set()
        for step in change.steps:
            if step.slot not in EXPAND_SLOTS:
                continue
            for statement in step.statements or ():
                found |= _exclusively_locked(statement, self._catalog)
        return found

    def _touched_by(self, units: Sequence[list[ParsedStatement]]) -> set[QualifiedName]:
        """The tables the statements ``units`` alter (a blocking lock) or comment on."""
        found: set[QualifiedName] = set()
        for unit in units:
            for statement in unit:
                found |= _touched(statement, self._catalog)
        return found

    def _completing(self, change: Change) -> Change:
        """``change`` runs in the transaction that holds ACCESS EXCLUSIVE on the tables
        of :attr:`_locked`. When each of its expand statements is catalog only and
        touches no other table, it completes them under the lock already held: marked
        as meant for the linter (``statements-after-access-exclusive``). Anything else
        would keep those tables locked while it runs or waits: :class:`CannotPlan`."""
        steps = [step for step in change.steps if step.slot is Slot.EXPAND]
        if all(_harmless(step) or self._quick(step) for step in steps):
            return change
        names = ", ".join(sorted(str(name) for name in self._locked))
        for step in steps:
            statements = step.statements or []
            if not statements or any(
                statement.kind not in _CATALOG_ONLY_KINDS
                or not _relations(statement, self._catalog)
                - _created_view(statement, self._catalog)
                <= self._locked | _referenced_not_valid(statement, self._catalog)
                for statement in statements
            ):
                raise CannotPlan(
                    f"[statements-after-access-exclusive] this statement would run while "
                    f"the ACCESS EXCLUSIVE lock on {names} is held (nobody can read or "
                    "write it until the transaction ends): the expand migration cannot end "
                    "before it, because a statement before it and one after it must commit "
                    "together (a table and what completes it, or what a removal leaves "
                    "missing)",
                    hint="reorder the change so each table's statements follow each other, "
                    "or plan the statements in separate changes",
                )
        ignore = (
            "statements-after-access-exclusive",
            f"completes {names} under the lock already held (catalog only); a split "
            "here would show clients the table without it",
        )
        return dataclasses.replace(
            change,
            steps=tuple(
                step.but(lint_ignore=_with_ignore(step.lint_ignore, ignore))
                if step in steps
                else step
                for step in change.steps
            ),
        )

    def _quick(self, step: Step) -> bool:
        """Each statement of ``step`` touches only a sequence or reads a locked (or new)
        table by one index probe: the linter does not count it either."""
        return bool(step.statements) and all(
            adds_no_time(statement.kind, statement.fields, self._catalog, self._locked)
            for statement in step.statements or ()
        )


def _with_ignore(held: tuple[str, str] | None, ignore: tuple[str, str]) -> tuple[str, str]:
    """``ignore`` beside the lint-ignore a step carries already (``drop-not-null``: lemmy's
    0196, hostile's refusals pattern P1): one directive, its rules and reasons joined."""
    if held is None:
        return ignore
    return f"{held[0]},{ignore[0]}", f"{held[1]}; {ignore[1]}"


def _referenced_not_valid(statement: ParsedStatement, catalog: Catalog) -> set[QualifiedName]:
    """The tables a foreign key added ``NOT VALID`` references: catalog only, the
    statement locks them SHARE ROW EXCLUSIVE for a moment (the drop of the foreign key
    it replaces, earlier in the transaction, locked them ACCESS EXCLUSIVE already:
    finding F-hostile-5)."""
    if statement.kind != "AlterTableStmt":
        return set()
    found = set()
    for item in statement.fields.get("cmds") or ():
        command = item.get("AlterTableCmd", {})
        constraint = (command.get("def") or {}).get("Constraint", {})
        if (
            command.get("subtype") != "AT_AddConstraint"
            or constraint.get("contype") != "CONSTR_FOREIGN"
            or not constraint.get("skip_validation")
        ):
            return set()
        found.add(catalog.relation_of(constraint.get("pktable"))[0])
    return found


def _harmless(step: Step) -> bool:
    """A session setting or a comment: no lock, the linter lets it follow one."""
    statements = step.statements
    return bool(statements) and all(s.kind in _HARMLESS_KINDS for s in statements or ())


def _created_view(statement: ParsedStatement, catalog: Catalog) -> set[QualifiedName]:
    """The view a ``CREATE VIEW`` creates (it is named, not locked), or nothing."""
    if statement.kind != "ViewStmt":
        return set()
    return {catalog.created_relation(statement.fields.get("view"))[0]}


def _analyzes(statement: ParsedStatement) -> bool:
    """``ANALYZE`` (the ``VacuumStmt`` without ``VACUUM``): it reads a sample and
    writes statistics, nothing a client sees."""
    return statement.kind == "VacuumStmt" and not statement.fields.get("is_vacuumcmd")


def _built_apart(unit: Sequence[ParsedStatement]) -> bool:
    """A ``CREATE INDEX``: on a table with rows the plan builds it ``CONCURRENTLY`` in a
    migration of its own after the expand migrations, so it completes nothing an
    expand transaction must hold (on a table the file creates it runs as written, but
    no expand migration locks that table)."""
    return bool(unit) and all(statement.kind == "IndexStmt" for statement in unit)


def _sets_session(statement: Statement) -> bool:
    """The statement changes a session setting (or its tree is unknown: assume so)."""
    return statement.tree is None or statement.tree.kind == "VariableSetStmt"


def _exclusively_locked(statement: ParsedStatement, catalog: Catalog) -> set[QualifiedName]:
    found = set()
    for range_var, lock in statement_locks(statement.kind, statement.fields):
        if lock is not Lock.ACCESS_EXCLUSIVE:
            continue
        name, table = catalog.relation_of(range_var)
        if table is None or (not table.system and not catalog.is_new(table)):
            found.add(name)  # a table no migration creates came before them: it has rows
    return found


def _touched(statement: ParsedStatement, catalog: Catalog) -> set[QualifiedName]:
    """The tables ``statement`` alters (any blocking lock) or comments on, and the ones
    a quick statement reads (``SELECT setval(..., max(id)) FROM t`` after ``SET DEFAULT
    nextval(...)`` completes the default: it stays under the lock)."""
    found = {
        catalog.relation_of(range_var)[0]
        for range_var, _ in statement_locks(statement.kind, statement.fields)
    }
    found |= quick_reads(statement.kind, statement.fields, catalog) or set()
    if statement.kind == "CommentStmt":
        items = (statement.fields.get("object") or {}).get("List", {}).get("items") or ()
        names = [item.get("String", {}).get("sval", "") for item in items]
        names = names[: len(names) - _COMMENTED_PARTS.get(statement.fields.get("objtype", ""), 0)]
        if names and statement.fields.get("objtype") in (*_COMMENTED_PARTS, "OBJECT_TABLE"):
            schema = names[-2] if len(names) > 1 else None
            found.add(catalog.resolve(schema, names[-1]))
    return found


def _relations(statement: ParsedStatement, catalog: Catalog) -> set[QualifiedName]:
    """Every table ``statement`` names (and the ones it comments on), but the ones
    the file created (no rows, no clients yet)."""
    named = {catalog.relation_of(range_var)[0] for range_var in range_vars(statement.fields)}
    found = set()
    for name in named | _touched(statement, catalog):
        table = catalog.table(name)
        if table is None or not catalog.is_new(table):  # a new table has no clients
            found.add(name)
    return found


def _adds(statement: ParsedStatement, catalog: Catalog) -> bool:
    if statement.fields.get("replace") and _replaces_one(statement, catalog):
        return False  # CREATE OR REPLACE of one that exists: what ran before changes
    if statement.kind in _ADDING_KINDS:
        return True
    if statement.kind != "AlterTableStmt":
        return False
    commands: list[Node] = [c.get("AlterTableCmd", {}) for c in statement.fields.get("cmds") or ()]
    table = catalog.relation_of(statement.fields.get("relation"))[1]
    return bool(commands) and all(_adding_command(command, table, catalog) for command in commands)


def _adding_command(command: Node, table: Table | None, catalog: Catalog) -> bool:
    subtype = command.get("subtype")
    if subtype == "AT_ColumnDefault":  # SET DEFAULT adds; DROP DEFAULT (no def) removes,
        # but not the default of a column the file adds: no running code saw it (lemmy's
        # 0172, Django's idiom: ADD COLUMN c ... NOT NULL DEFAULT x; ALTER c DROP DEFAULT)
        column = None if table is None else table.column(str(command.get("name") or ""))
        return bool(command.get("def")) or (column is not None and catalog.is_new(column))
    return subtype in _ADDING_COMMANDS


def _replaces_one(statement: ParsedStatement, catalog: Catalog) -> bool:
    """``CREATE OR REPLACE`` of a function or view the replay knows (or of anything
    else: a trigger, a rule): one that does not exist yet only adds (lemmy's 0030 and
    0168 create new functions that way)."""
    fields = statement.fields
    if statement.kind == "CreateFunctionStmt":
        names = strings(fields.get("funcname"))
        if not names:
            return True
        schema = names[-2] if len(names) > 1 else None
        return catalog.function(catalog.resolve(schema, names[-1], kind="function")) is not None
    if statement.kind == "ViewStmt":
        return catalog.relation_of(fields.get("view"))[1] is not None
    return True
