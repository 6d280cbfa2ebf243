"""The plan runs a statement in a later phase than the file's order puts it (a ``DROP
TABLE`` in the contract, a ``DELETE`` in the backfill); a statement written after it
that lands in an earlier phase runs before it. That is only right when the two are
independent: ``DELETE FROM tags WHERE id > 1000; CREATE UNIQUE INDEX ... ON tags``
builds the index before the duplicates are gone, and ``DROP TABLE a; DROP FUNCTION
next_code()`` drops the function ``a``'s default still uses.

:class:`FileOrder` refuses (:class:`CannotPlan`) a later statement that would run
before an earlier one it may depend on: it names a table the earlier one names, or it
drops or replaces an object other than a table (a function, sequence, type, ...), which
anything moved later may use, or it changes the data of another table under a foreign
key the earlier one removes (:mod:`~migrator.plan.removed_keys`, plandiff F58).
Changes planned knowing what an earlier one keeps until the contract
(:class:`~migrator.plan.facts.Deferred`: a column or index name dropped then, a key
moved) are the planner's own and pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from migrator.plan.added_columns import added_alike
from migrator.plan.model import CannotPlan, Change, Slot, Step
from migrator.plan.removed_keys import Removed, removed_keys
from migrator.plan.sql_text import excerpt
from migrator.sql.catalog import Catalog
from migrator.sql.names import QualifiedName, strings
from migrator.sql.parse import ParsedStatement
from migrator.sql.split import Statement
from migrator.sql.tree import range_vars, walk

#: statements that change no table and nothing a moved statement can rely on
_INDEPENDENT_KINDS = frozenset({"CommentStmt", "GrantStmt", "VariableSetStmt"})

#: statements that store a query over a table (what it returns depends on its data)
_DEFINITIONS = frozenset({"ViewStmt", "CreateTableAsStmt", "RuleStmt", "CreatePolicyStmt"})

#: statements that drop or change an object other than a table
_OBJECT_CHANGES = frozenset(
    {
        "AlterFunctionStmt",
        "AlterSeqStmt",
        "AlterDomainStmt",
        "AlterEnumStmt",
        "AlterObjectSchemaStmt",
        "AlterTypeStmt",
        "AlterExtensionStmt",
    }
)


#: the recipes of the file's own data changes run in batches
_DATA_CHANGES = frozenset({"batched backfill", "batched delete"})

#: the recipe of an ``ADD COLUMN`` whose volatile default fills its rows in batches
_COLUMN_FILL = "add column (filled in batches)"


@dataclass(frozen=True)
class _Moved:
    """An earlier change with steps in a later slot than the expand's."""

    source: str
    #: its steps after the expand phase (read, and their SQL parsed, only when a
    #: later statement of the file is checked against them)
    steps: tuple[Step, ...]
    relations: frozenset[QualifiedName]
    #: tables it registered what it keeps until the contract for
    deferred: frozenset[QualifiedName]
    #: columns it swaps for a copy of another type only in the contract, by table: a
    #: later type change of another column of the table is independent of it
    retyped: frozenset[tuple[QualifiedName, str]] = frozenset()
    #: it builds an index (concurrently, perhaps renamed into place in the contract):
    #: another index build on the table is independent of it
    index_build: bool = False
    #: it is an ``UPDATE`` or ``DELETE`` of the file, run in batches: a column added to
    #: its table after it is independent of it (finding F-hostile-9)
    data_change: bool = False
    #: it is an ``ADD COLUMN`` with a volatile default, its rows filled in batches: another
    #: column added to its table after it is independent of it, also one of a volatile
    #: default (its own recipe runs beside the first; F-hostile-9, second form)
    column_fill: bool = False
    #: the foreign keys it removes, which the data changes of other tables run under
    #: until it ran (plandiff F58)
    removed: tuple[Removed, ...] = ()

    @cached_property
    def _moving(self) -> tuple[Step, ...]:
        """The steps that change data or remove something (:func:`_moves`)."""
        return tuple(step for step in self.steps if _moves(step))

    @property
    def latest(self) -> int:
        """The latest slot of a moving step (0: none moves)."""
        return max((int(step.slot) for step in self._moving), default=0)

    @property
    def phase(self) -> str:
        return max(self._moving, key=lambda step: int(step.slot)).slot.phase


class FileOrder:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._moved: list[_Moved] = []
        #: tables that earlier changes still alter, by name, after the expand
        #: migrations' transactions (an index built concurrently, a validation, a swap,
        #: a drop): the source of the first such change
        self._finished_later: dict[QualifiedName, str] = {}
        #: constraints (table, name) earlier changes add whose plan still validates or
        #: attaches them after the expand migrations: the source and the latest slot
        self._constraints_later: dict[tuple[QualifiedName, str], tuple[str, Slot]] = {}
        #: the ones of those that the plan adds only then (a unique key attached in the
        #: contract): the source and the slot of the step that adds it
        self._created_later: dict[tuple[QualifiedName, str], tuple[str, Slot]] = {}
        #: tables with a column earlier changes make NOT NULL only after the expand
        #: migrations: the source and the slot of the first such change
        self._not_null_later: dict[QualifiedName, tuple[str, Slot]] = {}
        #: columns (table, column) a constraint the file adds reads: the source of the
        #: first such ``ADD CONSTRAINT``
        self._constrained: dict[tuple[QualifiedName, str], str] = {}

    def check(self, unit: Statement, planned: Sequence[Change]) -> None:
        """Refuse ``unit`` (planned as ``planned``) when part of it runs before an
        earlier change it may depend on; then remember it if it moves later itself."""
        statements = [] if unit.parsed is None else [unit.parsed]
        steps = [step for change in planned for step in change.steps]
        if not steps:
            return
        earliest = min(int(step.slot) for step in steps)
        relations = self._relations(statements)
        self._refuse_renaming_what_is_finished_later(statements)
        self._refuse_naming_constraints_finished_later(statements, earliest)
        self._refuse_commenting_constraints_created_later(statements, earliest)
        latest = max(steps, key=lambda step: int(step.slot)).slot
        if latest.phase != "expand":
            self._refuse_dropping_a_constrained_column_later(statements)
        for column in self._constrained_columns(statements):
            self._constrained.setdefault(column, unit.text)
        self._refuse_replica_identity_before_not_null(statements, earliest)
        for change in planned:
            for condition in change.conditions:
                if condition.kind == "not_null" and latest.phase != "expand":
                    table = QualifiedName(condition.schema, condition.table)
                    self._not_null_later.setdefault(table, (unit.text, latest))
        if latest.phase != "expand":
            for constraint in self._constraints(statements, _ADDING):
                self._constraints_later.setdefault(constraint, (unit.text, latest))
                created = _adding_slot(steps, constraint[1])
                if created.phase != "expand":
                    self._created_later.setdefault(constraint, (unit.text, created))
        if any(step.slot > Slot.EXPAND for step in steps):
            for name in relations:
                self._finished_later.setdefault(name, unit.text)
        for moved in self._moved:
            if moved.latest <= earliest:
                continue
            if all(statement.kind in _INDEPENDENT_KINDS for statement in statements):
                break
            if moved.index_build and _builds_indexes(statements):
                continue  # two builds on one table (finding F-hostile-8)
            _refuse_running_under_what_it_removes(moved, statements, self._written)
            # a view (or policy, rule) made now reads the table before the moved change
            # filled it: what the planner keeps until the contract does not cover that
            reads = any(statement.kind in _DEFINITIONS for statement in statements)
            exempt = frozenset() if reads else moved.deferred
            exempt |= _other_columns_retyped(statements, relations, moved.retyped)
            if moved.data_change or moved.column_fill:
                exempt |= _columns_added(statements, self._catalog, moved.column_fill)
            shared = sorted(str(name) for name in (relations & moved.relations) - exempt)
            if shared or any(_changes_an_object(statement) for statement in statements):
                why = (
                    f"both name {shared[0]}"
                    if shared
                    else "it drops or changes an object the earlier statement may use"
                )
                raise CannotPlan(
                    f"this statement comes after `{excerpt(moved.source)}`, which the plan "
                    f"runs in the {moved.phase} phase, but it would run before that, and {why}: "
                    "the plan would not do what the file does in its order",
                    hint="plan the later statement in a change of its own, after this one's "
                    f"{moved.phase} phase ran",
                )
        later = tuple(step for step in steps if step.slot.phase != "expand")
        if later:
            deferred = frozenset(
                self._catalog.resolve(item.schema or None, item.table)
                for change in planned
                for item in change.deferred
                if item.keeps_removed
            )
            retyped = frozenset(
                (self._catalog.resolve(item.schema or None, item.table), column)
                for change in planned
                for item in change.deferred
                for column in item.retyped
            )
            data_change = all(change.recipe in _DATA_CHANGES for change in planned)
            # a column's fill, and what else its statement adds without moving anything
            # (the unique key of ``ADD COLUMN c ... UNIQUE DEFAULT f()``, lemmy's 0104)
            column_fill = any(change.recipe == _COLUMN_FILL for change in planned) and all(
                change.recipe == _COLUMN_FILL
                or not any(_moves(step) for step in change.steps if step.slot.phase != "expand")
                for change in planned
            )
            self._moved.append(
                _Moved(
                    unit.text,
                    later,
                    relations,
                    deferred,
                    retyped,
                    _builds_indexes(statements),
                    data_change,
                    column_fill,
                    removed_keys(self._catalog, statements),
                )
            )

    def _refuse_renaming_what_is_finished_later(
        self, statements: Sequence[ParsedStatement]
    ) -> None:
        """A table renamed (or moved to another schema) in an expand transaction while
        an earlier change alters it by its old name in a later migration: that name is
        the rename's compatibility view by then (42809), or gone."""
        for statement in statements:
            fields = statement.fields
            renamed = (
                statement.kind == "RenameStmt" and fields.get("renameType") == "OBJECT_TABLE"
            ) or (
                statement.kind == "AlterObjectSchemaStmt"
                and fields.get("objectType") == "OBJECT_TABLE"
            )
            if not renamed:
                continue
            for name in self._relations([statement]):
                earlier = self._finished_later.get(name)
                if earlier is not None:
                    raise CannotPlan(
                        f"this statement renames {name}, which the plan of `{excerpt(earlier)}` "
                        "still alters by its old name in a later migration than this "
                        "statement's: by then that name would be the rename's view",
                        hint="plan the rename in a change of its own, after this one's "
                        "contract phase ran",
                    )

    def _refuse_naming_constraints_finished_later(
        self, statements: Sequence[ParsedStatement], earliest: int
    ) -> None:
        """A constraint dropped, validated, changed or renamed by a statement that runs
        before the later migration in which an earlier statement's plan still validates
        or attaches it (plandiff F31: ``ADD CONSTRAINT c CHECK (...); DROP CONSTRAINT c``
        dropped it in the expand, then its VALIDATE failed, 42704)."""
        for constraint in self._constraints(statements, _NAMING, renames=True):
            earlier = self._constraints_later.get(constraint)
            if earlier is not None and int(earlier[1]) > earliest:
                source, slot = earlier
                raise CannotPlan(
                    f"this statement names constraint {constraint[1]} of {constraint[0]}, "
                    f"which the plan of `{excerpt(source)}` still validates or attaches in "
                    f"its {slot.phase} phase: this statement would run before that",
                    hint="plan this statement in a change of its own, after this one's "
                    f"{slot.phase} phase ran",
                )

    def _refuse_commenting_constraints_created_later(
        self, statements: Sequence[ParsedStatement], earliest: int
    ) -> None:
        """``COMMENT ON CONSTRAINT`` of a constraint an earlier statement adds, which its
        plan adds only in a later migration (``ADD CONSTRAINT k UNIQUE (...)`` is
        attached from its concurrently built index in the contract phase): the comment
        would run before the constraint exists (42704)."""
        for statement in statements:
            fields = statement.fields
            if statement.kind != "CommentStmt" or fields.get("objtype") != "OBJECT_TABCONSTRAINT":
                continue
            names = strings((fields.get("object") or {}).get("List", {}).get("items"))
            if len(names) < 2:
                continue
            table = self._catalog.resolve(names[-3] if len(names) > 2 else None, names[-2])
            earlier = self._created_later.get((table, names[-1]))
            if earlier is not None and int(earlier[1]) > earliest:
                source, slot = earlier
                raise CannotPlan(
                    f"this statement comments on constraint {names[-1]} of {table}, which the "
                    f"plan of `{excerpt(source)}` adds only in its {slot.phase} phase: this "
                    "statement would run before that",
                    hint=f"comment on it in a change of its own, after this one's {slot.phase} "
                    "phase ran",
                )

    def _refuse_replica_identity_before_not_null(
        self, statements: Sequence[ParsedStatement], earliest: int
    ) -> None:
        """``REPLICA IDENTITY USING INDEX`` needs the index's columns NOT NULL when it
        runs; an earlier ``SET NOT NULL`` of the table (or a key that implies it) is
        planned to take effect only in a later migration (42809 where the naive file
        succeeds)."""
        for table, command in self._alter_table_commands(statements):
            if command.get("subtype") != "AT_ReplicaIdentity":
                continue
            identity = (command.get("def") or {}).get("ReplicaIdentityStmt", {})
            earlier = self._not_null_later.get(table)
            if identity.get("identity_type") == "i" and earlier is not None:
                source, slot = earlier
                if int(slot) > earliest:
                    raise CannotPlan(
                        f"this statement makes an index of {table} its replica identity, "
                        "which needs the index's columns NOT NULL, and the plan of "
                        f"`{excerpt(source)}` makes a column NOT NULL only in its {slot.phase} "
                        "phase: this statement would run before that",
                        hint="set the replica identity in a change of its own, after this "
                        f"one's {slot.phase} phase ran",
                    )

    def _refuse_dropping_a_constrained_column_later(
        self, statements: Sequence[ParsedStatement]
    ) -> None:
        """A column dropped in a later phase than the expand that a constraint an
        earlier statement added reads (plandiff F40: ``ADD CONSTRAINT c CHECK (x IS NOT
        NULL); DROP COLUMN x``): the naive file drops the constraint with the column, the
        plan enforces it from its expand on, so the new code's writes without the column
        break it until the contract."""
        for table, command in self._alter_table_commands(statements):
            if command.get("subtype") != "AT_DropColumn":
                continue
            column = str(command.get("name", ""))
            source = self._constrained.get((table, column))
            if source is not None:
                raise CannotPlan(
                    f"this statement drops column {column} of {table}, which the "
                    f"constraint added by `{excerpt(source)}` reads: the file drops the "
                    "constraint with the column, the plan would enforce it on the new "
                    "code's writes until its contract phase",
                    hint="leave out the ADD CONSTRAINT (the column takes it with it), "
                    "or plan the drop in a change of its own",
                )

    def _constrained_columns(
        self, statements: Sequence[ParsedStatement]
    ) -> list[tuple[QualifiedName, str]]:
        """The columns (table, column) that constraints ``ALTER TABLE ... ADD`` adds
        read: their keys, foreign key columns and the columns their expression names."""
        found = []
        for table, command in self._alter_table_commands(statements):
            if command.get("subtype") not in _ADDING:
                continue
            constraint = (command.get("def") or {}).get("Constraint", {})
            names = [*constraint.get("keys", ()), *constraint.get("fk_attrs", ())]
            for kind, node in walk(constraint.get("raw_expr")):
                if kind == "ColumnRef":
                    names.extend(node.get("fields", ())[-1:])
            for name in names:
                value = name.get("String", {}).get("sval") if isinstance(name, dict) else None
                if value:
                    found.append((table, str(value)))
        return found

    def _alter_table_commands(
        self, statements: Sequence[ParsedStatement]
    ) -> list[tuple[QualifiedName, dict[str, Any]]]:
        """Each ``ALTER TABLE`` subcommand of ``statements`` with its table."""
        found = []
        for statement in statements:
            if statement.kind != "AlterTableStmt":
                continue
            table = self._catalog.relation_of(statement.fields.get("relation"))[0]
            for item in statement.fields.get("cmds") or ():
                found.append((table, item.get("AlterTableCmd", {})))
        return found

    def _constraints(
        self, statements: Sequence[ParsedStatement], subtypes: frozenset[str], renames: bool = False
    ) -> list[tuple[QualifiedName, str]]:
        """The named constraints (table, name) that ``ALTER TABLE`` subcommands of
        ``subtypes`` (and, with ``renames``, a ``RENAME CONSTRAINT``) of ``statements``
        name."""
        found = []
        for statement in statements:
            fields = statement.fields
            if statement.kind == "RenameStmt" and renames:
                if fields.get("renameType") == "OBJECT_TABCONSTRAINT" and fields.get("subname"):
                    table = self._catalog.relation_of(fields.get("relation"))[0]
                    found.append((table, str(fields["subname"])))
                continue
            if statement.kind != "AlterTableStmt":
                continue
            table = self._catalog.relation_of(fields.get("relation"))[0]
            for item in fields.get("cmds") or ():
                command = item.get("AlterTableCmd", {})
                if command.get("subtype") not in subtypes:
                    continue
                name = command.get("name") or (
                    (command.get("def") or {}).get("Constraint", {}).get("conname")
                )
                if name:
                    found.append((table, str(name)))
        return found

    def _written(self, statement: ParsedStatement) -> frozenset[QualifiedName]:
        """The tables whose rows a data change writes (not those it only reads)."""
        fields = statement.fields
        targets = [fields.get("relation"), *(fields.get("relations") or ())]
        return frozenset(
            self._catalog.relation_of(target.get("RangeVar", target))[0]
            for target in targets
            if isinstance(target, dict)
        )

    def _relations(self, statements: Sequence[ParsedStatement]) -> frozenset[QualifiedName]:
        found: set[QualifiedName] = set()
        for statement in statements:
            for range_var in range_vars(statement.fields):
                found.add(self._catalog.relation_of(range_var)[0])
        return frozenset(found)


#: ``ALTER TABLE`` subcommands that add a constraint
_ADDING = frozenset({"AT_AddConstraint"})

#: ``ALTER TABLE`` subcommands that name an existing constraint
_NAMING = frozenset({"AT_DropConstraint", "AT_ValidateConstraint", "AT_AlterConstraint"})

#: statements of a later phase that change data or remove (what a later statement of
#: the file may rely on having happened); validations and key attachments do not
_MOVING_KINDS = frozenset({"UpdateStmt", "DeleteStmt", "DropStmt", "RenameStmt", "TruncateStmt"})


def _refuse_running_under_what_it_removes(
    moved: _Moved,
    statements: Sequence[ParsedStatement],
    written: Callable[[ParsedStatement], frozenset[QualifiedName]],
) -> None:
    """A data change of another table that the moved statement's drop lets through in
    the file (plandiff F58: ``DROP TABLE b; DELETE FROM a ...``, ``b`` referencing
    ``a``) runs before it in the plan, under the foreign key it removes."""
    for statement in statements:
        for removed in moved.removed:
            if removed.applies(statement, written(statement)):
                raise CannotPlan(
                    f"this statement comes after `{excerpt(moved.source)}`, which the plan "
                    f"runs in the {moved.phase} phase, but it would run before that, under "
                    f"{removed.why}, which that statement removes: where the file succeeds, "
                    "the plan could fail after committing part of it",
                    hint="plan the data change in a change of its own, after this one's "
                    f"{moved.phase} phase ran (or change the rows before the drop)",
                )


def _adding_slot(steps: Sequence[Step], name: str) -> Slot:
    """The slot of the step that adds constraint ``name`` (the expand's: none does)."""
    for step in steps:
        for statement in step.statements or []:
            if statement.kind != "AlterTableStmt":
                continue
            for item in statement.fields.get("cmds") or ():
                command = item.get("AlterTableCmd", {})
                definition = (command.get("def") or {}).get("Constraint", {})
                if command.get("subtype") in _ADDING and definition.get("conname") == name:
                    return step.slot
    return Slot.EXPAND


def _moves(step: Step) -> bool:
    """A step of a later phase that changes data or removes something."""
    if step.slot is Slot.BACKFILL:
        return True
    for statement in step.statements or []:
        if statement.kind in _MOVING_KINDS:
            return True
        if statement.kind != "AlterTableStmt":
            continue
        for item in statement.fields.get("cmds") or ():
            command = item.get("AlterTableCmd", {})
            subtype = command.get("subtype")
            if subtype == "AT_DropColumn":
                return True
            if subtype == "AT_DropConstraint" and not str(command.get("name", "")).startswith(
                "migrator_"
            ):
                return True
    return False


def _changes_an_object(statement: ParsedStatement) -> bool:
    """Drops or changes an object other than a table, index or view."""
    fields = statement.fields
    if statement.kind == "DropStmt":
        return fields.get("removeType") not in ("OBJECT_TABLE", "OBJECT_INDEX")
    if statement.kind == "RenameStmt":
        return fields.get("renameType") not in ("OBJECT_TABLE", "OBJECT_COLUMN", "OBJECT_INDEX")
    if statement.kind in ("CreateFunctionStmt", "ViewStmt", "DefineStmt"):
        return bool(fields.get("replace"))
    return statement.kind in _OBJECT_CHANGES


def _other_columns_retyped(
    statements: Sequence[ParsedStatement],
    relations: frozenset[QualifiedName],
    retyped: frozenset[tuple[QualifiedName, str]],
) -> frozenset[QualifiedName]:
    """The table of ``statements`` when they only change the types of columns an
    earlier type change of that table (``retyped``) leaves alone: each column goes
    through a copy of its own, and neither plan reads the other's column."""
    if len(relations) != 1 or not statements:
        return frozenset()
    (table,) = relations
    columns = {column for name, column in retyped if name == table}
    for statement in statements:
        if statement.kind != "AlterTableStmt":
            return frozenset()
        for item in statement.fields.get("cmds") or ():
            command = item.get("AlterTableCmd", {})
            if command.get("subtype") != "AT_AlterColumnType" or command.get("name") in columns:
                return frozenset()
    return frozenset({table}) if columns else frozenset()


def _builds_indexes(statements: Sequence[ParsedStatement]) -> bool:
    """Every statement is a ``CREATE INDEX`` (built concurrently on a table with rows,
    under another name and renamed in the contract when it takes a dropped index's)."""
    return bool(statements) and all(statement.kind == "IndexStmt" for statement in statements)


def _columns_added(
    statements: Sequence[ParsedStatement], catalog: Catalog, volatile: bool = False
) -> frozenset[QualifiedName]:
    """The tables ``statements`` only add columns to, each without a default or with one
    that is not volatile, and no constraint but NULL / NOT NULL: the column holds the
    same value in every row whenever it is added, so an earlier data change of the file
    (which cannot name it) runs the same before or after it (finding F-hostile-9:
    pocket-id's ``UPDATE apis SET audience = ...; ALTER TABLE apis ADD COLUMN
    allow_cimd_clients boolean NOT NULL DEFAULT false``). With ``volatile``, a volatile
    default too: after another column's fill, whose batches write only that column, a
    column of a volatile default is added and filled by its own recipe, beside it
    (F-hostile-9, second form: lemmy's 0070 adds two ``DEFAULT
    generate_unique_changeme()`` columns to one table)."""
    found = set()
    for statement in statements:
        commands = [c.get("AlterTableCmd", {}) for c in statement.fields.get("cmds") or ()]
        if statement.kind != "AlterTableStmt" or not commands:
            return frozenset()
        for command in commands:
            column = (command.get("def") or {}).get("ColumnDef")
            if command.get("subtype") != "AT_AddColumn" or column is None:
                return frozenset()
            if not added_alike(column, catalog, volatile=volatile):
                return frozenset()
        found.add(catalog.relation_of(statement.fields.get("relation"))[0])
    return frozenset(found)
