"""Renaming a column or changing its type through a second column: add it with a sync
trigger in one transaction, copy the data in batches, then swap in one short
transaction (pgroll #905 and #906 are the failures this order avoids)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from migrator.plan.facts import Deferred, TableFacts
from migrator.plan.model import CannotPlan, Change, Slot, Step, lint_ignored
from migrator.plan.recipes.backfill import backfill_step
from migrator.plan.recipes.columns import DROP_COLUMN_REASON, existing_column, missing_column
from migrator.plan.recipes.foreign_keys import (
    incoming_moved,
    joined,
    outgoing_added_again,
    references_a_retyped_key,
)
from migrator.plan.recipes.indexes import concurrent_index_steps
from migrator.plan.recipes.not_null import add_not_null_check, enforce_not_null
from migrator.plan.recipes.target import PlanOptions, Target, short_digest
from migrator.plan.recipes.validation import validate_step
from migrator.plan.sql_text import (
    bounded_name,
    ident,
    literal,
    rename_in_constraint,
    rename_in_expression,
    rename_in_index_body,
)
from migrator.source.model import Phase

TRIGGER_NOTE = (
    "SHARE ROW EXCLUSIVE for a moment; created in the same transaction as the column, so "
    "no write slips through unsynced"
)


@dataclass(frozen=True)
class Shadow:
    """How the second column relates to the first."""

    old: str
    new: str
    new_type_sql: str
    #: the new column's value computed from the row (``old``, ``CAST(old AS bigint)``)
    copy_expression: str
    #: the name the column has when the plan is done (``new`` for a rename)
    final_name: str
    #: the new application writes ``new`` and the old one ``old`` (a rename)
    both_directions: bool

    @property
    def copied_value(self) -> str:
        """The copy expression as a value of the new type, to compare with ``new``
        (the copy itself is assigned, which converts like ``ALTER COLUMN ... TYPE``)."""
        if self.both_directions:
            return self.copy_expression
        return f"CAST(({self.copy_expression}) AS {self.new_type_sql})"


#: the dollar-quote tag of the conversion check (no expression of a change contains it)
_CHECK_TAG = "$migrator_check$"


def conversion_check(target: Target, shadow: Shadow) -> Step:
    """Before anything changes: every existing value converts to the new type the way
    ``ALTER COLUMN ... TYPE`` converts it (assignment, PL/pgSQL uses the same cast), so
    a value the naive statement rejects (22001: too long for ``varchar(20)``) stops the
    expand migration with nothing changed instead of the backfill or, worse, being cut."""
    if _CHECK_TAG in shadow.copy_expression:
        raise CannotPlan(
            f"the USING expression contains {_CHECK_TAG}, which the planner's check uses"
        )
    return Step(
        Slot.EXPAND,
        f"DO {_CHECK_TAG}\nDECLARE\n  converted {shadow.new_type_sql};\nBEGIN\n"
        f"  FOR converted IN SELECT {shadow.copy_expression} FROM {target.sql} LOOP\n"
        f"  END LOOP;\nEND\n{_CHECK_TAG}",
        "ACCESS SHARE: reads every row (blocks no client); fails, with nothing changed, "
        "where ALTER COLUMN ... TYPE would fail",
    )


def assignment_check(target: Target, shadow: Shadow) -> Step:
    """An ``UPDATE ... WHERE false``: PostgreSQL checks that the copy can be assigned to
    the new column (an assignment cast exists, 42804 otherwise) and changes no row."""
    return Step(
        Slot.EXPAND,
        f"UPDATE {target.sql} SET {ident(shadow.new)} = {shadow.copy_expression} WHERE false",
        "changes no row: fails, with nothing changed, where ALTER COLUMN ... TYPE would "
        "find no assignment cast",
        lint_ignore=(
            "unbatched-backfill",
            "WHERE false: no row changes, PostgreSQL only checks the assignment's types",
        ),
    )


def sync_function_sql(target: Target, function: str, shadow: Shadow) -> str:
    """The trigger function keeping the two columns equal on every insert and update."""
    old, new = f"NEW.{ident(shadow.old)}", f"NEW.{ident(shadow.new)}"
    if shadow.both_directions:
        body = (
            "  IF TG_OP = 'INSERT' THEN\n"
            f"    IF {new} IS NULL THEN {new} := {old}; ELSE {old} := {new}; END IF;\n"
            f"  ELSIF {old} IS DISTINCT FROM OLD.{ident(shadow.old)} THEN\n"
            f"    {new} := {old};\n"
            f"  ELSIF {new} IS DISTINCT FROM OLD.{ident(shadow.new)} THEN\n"
            f"    {old} := {new};\n"
            "  ELSE\n"
            f"    {new} := {old};\n"
            "  END IF;\n"
        )
    else:
        value = rename_in_expression(shadow.copy_expression, {}, record="NEW")
        body = f"  {new} := {value};\n"
    return (
        f"CREATE FUNCTION {target.qualify(function)}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}  RETURN NEW;\nEND\n$$"
    )


_IDENTITY_TAG = "$migrator_identity$"


def identity_moved_sql(target: Target, shadow: Shadow, *, always: bool) -> str:
    """The identity of ``shadow.old`` moved to ``shadow.new``, in the swap transaction:
    the sequence's options and next value are read, the old identity dropped (with its
    sequence), and the new column made the identity under the sequence's name, with the
    same options (a maximum or minimum that was the old type's limit becomes the new
    type's, as ``ALTER COLUMN ... TYPE`` does: ``init_params`` of sequence.c; plandiff
    F57: a bigint identity narrowed to integer kept bigint's maximum, 22023 in the
    contract) and going on from the same next value."""
    table = literal(f"{target.sql}")
    old, new = ident(shadow.old), ident(shadow.new)
    when = "ALWAYS" if always else "BY DEFAULT"
    return (
        f"DO {_IDENTITY_TAG}\nDECLARE\n"
        f"  sequence_name text := pg_get_serial_sequence({table}, {literal(shadow.old)});\n"
        "  options record;\n  next_value bigint;\nBEGIN\n"
        "  SELECT * INTO options FROM pg_sequence WHERE seqrelid = sequence_name::regclass;\n"
        "  EXECUTE format('SELECT CASE WHEN is_called THEN last_value + %s ELSE last_value "
        "END FROM %s', options.seqincrement, sequence_name) INTO next_value;\n"
        f"  ALTER TABLE {target.sql} ALTER COLUMN {old} DROP IDENTITY;\n"
        f"  EXECUTE format('ALTER TABLE {target.sql.replace(chr(39), chr(39) * 2)} ALTER COLUMN "
        f"{new} ADD GENERATED {when} AS IDENTITY (SEQUENCE NAME %s START WITH %s "
        "INCREMENT BY %s %s %s CACHE %s %s CYCLE)',\n"
        "    sequence_name, options.seqstart, options.seqincrement,\n"
        "    CASE WHEN (options.seqtypid = 'bigint'::regtype\n"
        "        AND options.seqmin = -9223372036854775808)\n"
        "      OR (options.seqtypid = 'integer'::regtype AND options.seqmin = -2147483648)\n"
        "      OR (options.seqtypid = 'smallint'::regtype AND options.seqmin = -32768)\n"
        "      THEN 'NO MINVALUE' ELSE 'MINVALUE ' || options.seqmin END,\n"
        "    CASE WHEN (options.seqtypid = 'bigint'::regtype\n"
        "        AND options.seqmax = 9223372036854775807)\n"
        "      OR (options.seqtypid = 'integer'::regtype AND options.seqmax = 2147483647)\n"
        "      OR (options.seqtypid = 'smallint'::regtype AND options.seqmax = 32767)\n"
        "      THEN 'NO MAXVALUE' ELSE 'MAXVALUE ' || options.seqmax END,\n"
        "    options.seqcache, CASE WHEN options.seqcycle THEN '' ELSE 'NO' END);\n"
        "  EXECUTE format('ALTER SEQUENCE %s RESTART WITH %s', sequence_name, next_value);\n"
        f"END\n{_IDENTITY_TAG}"
    )


_SERIAL_TAG = "$migrator_serial$"


def serial_moved_sql(target: Target, shadow: Shadow) -> str:
    """The sequence of serial column ``shadow.old`` moved to ``shadow.new``, in the swap
    transaction: found at run time (plandiff F46: a table or column renamed since the
    serial column was created keeps the sequence's first name, ``a_id_seq`` of a table
    now named ``r2``), owned by the new column and read by its default."""
    table = literal(target.sql)
    return (
        f"DO {_SERIAL_TAG}\nDECLARE\n"
        f"  sequence_name text := pg_get_serial_sequence({table}, {literal(shadow.old)});\n"
        "BEGIN\n"
        "  IF sequence_name IS NULL THEN\n"
        f"    RAISE EXCEPTION 'no sequence is owned by %.%', {table}, {literal(shadow.old)};\n"
        "  END IF;\n"
        "  EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%s', sequence_name, "
        f"{table}, {literal(ident(shadow.new))});\n"
        "  EXECUTE format('ALTER TABLE %s ALTER COLUMN %s SET DEFAULT nextval(%L::regclass)', "
        f"{table}, {literal(ident(shadow.new))}, sequence_name);\n"
        f"END\n{_SERIAL_TAG}"
    )


_STRING_LITERAL = re.compile(r"^'(?:[^']|'')*'$")
#: the types a string constant of one converts to the others implicitly
_STRING_TYPES = {"text", "varchar", "character varying", "char", "character", "bpchar"}


def _base_type(type_sql: str) -> str:
    return re.sub(r"\s*\(.*\)\s*$", "", type_sql.strip().lower())


def stored_default(default_sql: str, old_type: str, new_type: str) -> str:
    """The default of the replacement column as ``ALTER COLUMN ... TYPE`` keeps it:
    PostgreSQL keeps the expression stored for the old column, whose string constant
    has the old type (``'x'::text``), and converts it on use; written as is on the
    new column it would be stored as a constant of the new type
    (``'x'::character varying``). Between string types only: to another type the
    naive ``ALTER`` needs the default set again too."""
    old_base, new_base = _base_type(old_type), _base_type(new_type)
    if (
        _STRING_LITERAL.match(default_sql.strip())
        and old_base != new_base
        and {old_base, new_base} <= _STRING_TYPES
    ):
        return f"{default_sql.strip()}::{old_base}"
    return default_sql


def _check_movable(target: Target, facts: TableFacts, column: str, what: str) -> None:
    fact = facts.column(column)
    if fact is None:
        raise missing_column(target, column)
    if fact.generated:
        raise CannotPlan(
            f"cannot {what} {target.sql}.{ident(column)} in phases: it is a generated "
            "column, which a second column cannot take over",
        )
    if fact.identity and what == "rename":
        raise CannotPlan(
            f"cannot rename {target.sql}.{ident(column)} in phases: it is an identity "
            "column, and both names would need it during the transition",
            hint="a type change of an identity column is planned (the identity moves to "
            "the new column in the contract); a rename is not",
        )
    incoming = facts.incoming_on(column)
    if incoming and what == "rename":
        others = ", ".join(f"{s}.{t} ({c.name})" for s, t, c in incoming)
        raise CannotPlan(
            f"cannot rename {target.sql}.{ident(column)} in phases: foreign keys of other "
            f"tables reference it: {others}",
            hint="old code writes the old name, new code the new one, and a foreign key "
            "references one column: plan the rename by hand (docs/planner.md, 'What cannot "
            "be made safe'); a type change of a referenced key is planned",
        )
    if facts.view:
        raise CannotPlan(f"{target.sql} is a view; the planner changes tables")
    target.refuse_dependents(column, what)


def shadow_column_change(
    target: Target,
    shadow: Shadow,
    options: PlanOptions,
    *,
    source: str,
    recipe: str,
    label: str,
    deploy_before: dict[Phase, str],
) -> Change:
    what = "rename" if shadow.both_directions else "change the type of"
    facts = target.require(f"to {what} the column in phases")
    if shadow.old in facts.deferred.shadowed:
        raise CannotPlan(
            f"{target.sql}.{ident(shadow.old)} is renamed or retyped earlier in the change, "
            "which the plan finishes only in its contract phase (through a second column, a "
            f"trigger and copies of its indexes): it cannot {what} it again before that",
            hint="write the change once (rename to the final name, or the final type), or "
            "plan the second change after this one's contract phase ran",
        )
    _check_movable(target, facts, shadow.old, what)
    target.refuse_update_triggers((shadow.new,), f"{what} column {ident(shadow.old)}")
    if facts.column(shadow.new) is not None:
        raise existing_column(target, shadow.new)
    old_fact = facts.column(shadow.old)
    assert old_fact is not None
    integer_types = {"smallint", "integer", "bigint", "int2", "int4", "int8", "int"}
    if old_fact.identity and shadow.new_type_sql.lower() not in integer_types:
        raise CannotPlan(
            f"cannot change the type of identity column {target.sql}.{ident(shadow.old)} to "
            f"{shadow.new_type_sql}: an identity column is smallint, integer or bigint "
            "(PostgreSQL refuses the change too)",
        )
    old, new, table = ident(shadow.old), ident(shadow.new), target.sql
    function = target.claim(
        bounded_name("migrator", target.name, shadow.old, short_digest(source), suffix="sync"),
        "sync function and trigger",
    )
    steps: list[Step] = [] if shadow.both_directions else [conversion_check(target, shadow)]
    steps += [
        Step(
            Slot.EXPAND,
            f"ALTER TABLE {table} ADD COLUMN {new} {shadow.new_type_sql}",
            "ACCESS EXCLUSIVE for a moment: a nullable column without default is catalog only",
            undo=(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {new}",),
        ),
        Step(
            Slot.EXPAND,
            sync_function_sql(target, function, shadow),
            "catalog only",
            undo=(f"DROP FUNCTION IF EXISTS {target.qualify(function)}()",),
        ),
        Step(
            Slot.EXPAND,
            f"CREATE TRIGGER {ident(function)} BEFORE INSERT OR UPDATE ON {table}\n"
            f"  FOR EACH ROW EXECUTE FUNCTION {target.qualify(function)}()",
            TRIGGER_NOTE,
            undo=(f"DROP TRIGGER IF EXISTS {ident(function)} ON {table}",),
        ),
    ]
    if not shadow.both_directions:
        steps.insert(2, assignment_check(target, shadow))
    if old_fact.not_null:
        steps.append(add_not_null_check(target, shadow.new, Slot.EXPAND))
    mapping = {shadow.old: shadow.new}
    renames: list[Step] = []
    moved = [incoming_moved(target, facts, shadow.old, shadow.new_type_sql)]
    linked = {(s, t) for s, t, _ in facts.incoming_on(shadow.old)}
    for constraint in facts.constraints_on(shadow.old):
        if constraint.kind not in ("check", "foreign") or not constraint.definition_sql:
            continue
        if constraint.references is not None:
            linked.add(constraint.references)
        if constraint.kind == "foreign" and facts.partitioned:
            raise CannotPlan(
                f"cannot {what} {table}.{old} in phases: {table} is a partitioned table and "
                f"its foreign key {constraint.name} is on the column; the plan copies it for "
                "the new column NOT VALID (to validate later without blocking writes), which "
                "PostgreSQL refuses on a partitioned table (42809), and a valid copy would "
                "check every partition's rows while it blocks writes",
                hint="run the statement as written while the table is small or in a "
                "maintenance window, with -- migrate:lint-ignore and a reason",
            )
        referenced = (
            target.schema_facts.table(*constraint.references)
            if constraint.kind == "foreign"
            and constraint.references is not None
            and target.schema_facts is not None
            else None
        )
        if referenced is not None and referenced.partitioned:
            raise CannotPlan(
                f"cannot {what} {table}.{old} in phases: its foreign key {constraint.name} "
                f"references {referenced.name}, a partitioned table; the plan copies the key "
                "for the new column NOT VALID and validates it later, which PostgreSQL 15 "
                "does only on the parent (the per-partition constraints stay NOT VALID, under "
                "other names: the schema differs from the naive statement's)",
                hint=(
                    "run the rename as written (catalog only)"
                    if shadow.both_directions
                    else "run the statement as written while the table is small or in a "
                    "maintenance window, with -- migrate:lint-ignore and a reason"
                ),
            )
        if references_a_retyped_key(target, constraint):
            moved.append(
                outgoing_added_again(
                    target, constraint, {shadow.old: shadow.final_name}, shadow.new_type_sql
                )
            )
            continue
        copy_name = target.claim(bounded_name(constraint.name, suffix="new"), "constraint copy")
        copy_definition = rename_in_constraint(constraint.definition_sql, mapping)
        steps.append(
            Step(
                Slot.EXPAND,
                f"ALTER TABLE {table} ADD CONSTRAINT {ident(copy_name)} {copy_definition} "
                "NOT VALID",
                "a copy for the new column; NOT VALID skips the scan",
                undo=(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {ident(copy_name)}",),
            )
        )
        steps.append(validate_step(target, copy_name, copy_definition))
        renames.append(
            Step(
                Slot.CONTRACT_SWAP,
                f"ALTER TABLE {table} RENAME CONSTRAINT {ident(copy_name)} TO "
                f"{ident(constraint.name)}",
                "catalog only",
                undo=None,
            )
        )
    for index in facts.indexes_mentioning(shadow.old):
        if not index.body_sql:
            raise CannotPlan(
                f"the definition of index {index.name} on {table} is not known, so it "
                f"cannot be rebuilt for {new}"
            )
        copy_name = target.claim(bounded_name(index.name, suffix="new"), "index copy")
        steps += concurrent_index_steps(
            target,
            copy_name,
            rename_in_index_body(index.body_sql, mapping),
            unique=index.unique,
        )
        backing = next((c for c in facts.constraints if c.name == index.constraint), None)
        if backing is not None and backing.kind in ("primary", "unique"):
            kind = "PRIMARY KEY" if backing.kind == "primary" else "UNIQUE"
            sql = (
                f"ALTER TABLE {table} ADD CONSTRAINT {ident(backing.name)} {kind} USING "
                f"INDEX {ident(copy_name)}"
            )
        else:
            sql = f"ALTER INDEX {target.qualify(copy_name)} RENAME TO {ident(index.name)}"
        renames.append(Step(Slot.CONTRACT_SWAP, sql, "catalog only", undo=None))
    steps.append(
        backfill_step(
            target,
            f"{new} = {shadow.copy_expression}",
            f"{new} IS DISTINCT FROM {shadow.copied_value}",
            options,
            f"copy {old} into {new}",
        )
    )
    if old_fact.not_null:
        steps += [s for s in enforce_not_null(target, shadow.new, check_slot=None)]
    foreign_keys = joined(moved)
    steps += foreign_keys.drop
    swap = [
        f"DROP TRIGGER IF EXISTS {ident(function)} ON {table}",
        f"DROP FUNCTION IF EXISTS {target.qualify(function)}()",
    ]
    if old_fact.identity:
        swap.append(identity_moved_sql(target, shadow, always=old_fact.identity_always))
    if old_fact.owned_sequence:
        swap.append(serial_moved_sql(target, shadow))
    elif old_fact.default_sql:
        default = stored_default(old_fact.default_sql, old_fact.type_sql, shadow.new_type_sql)
        swap.append(f"ALTER TABLE {table} ALTER COLUMN {new} SET DEFAULT {default}")
    swap.append(f"ALTER TABLE {table} DROP COLUMN {old}")
    if shadow.final_name != shadow.new:
        swap.append(
            lint_ignored(
                f"ALTER TABLE {table} RENAME COLUMN {new} TO {ident(shadow.final_name)}",
                "rename-column",
                f"the replacement column takes the old name in the swap; no client uses {new}",
            )
        )
    drop_old = f"ALTER TABLE {table} DROP COLUMN {old}"
    steps += [
        Step(
            Slot.CONTRACT_SWAP,
            sql,
            "ACCESS EXCLUSIVE, held only for this short transaction (catalog changes)",
            undo=None,
            lint_ignore=("drop-column", DROP_COLUMN_REASON) if sql == drop_old else None,
        )
        for sql in swap
    ]
    steps += renames
    steps += foreign_keys.add_again + foreign_keys.validate
    moved_references = frozenset(
        (schema, name, fk.name) for schema, name, fk in facts.incoming_on(shadow.old)
    )
    made = Deferred(
        facts.schema,
        facts.name,
        shadowed=frozenset({shadow.final_name}),
        retyped=frozenset() if shadow.both_directions else frozenset({shadow.old}),
        moved_references=frozenset() if shadow.both_directions else moved_references,
    )
    swap_tables = frozenset(linked | {(facts.schema, facts.name)}) if linked else frozenset()
    return Change(
        source,
        recipe,
        tuple(steps),
        deploy_before,
        label,
        deferred=(made,),
        swap_tables=swap_tables,
    )
