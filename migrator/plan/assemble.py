"""Group the steps of every change into migrations: one per slot (and, where each step
must stay a short transaction of its own, one per change), in phase order, each with
what must be deployed before the next one. The shared expand migration ends after each
change that takes ACCESS EXCLUSIVE on an existing table (:mod:`.exclusive_locks`)."""

from __future__ import annotations

from dataclasses import replace

from migrator.plan.exclusive_locks import EXPAND_SLOTS
from migrator.plan.index_builds import IndexBuilds, after_the_builds
from migrator.plan.model import CannotPlan, Change, Plan, PlannedMigration, Slot, Step
from migrator.plan.sql_text import excerpt
from migrator.source.model import PHASES, Phase
from migrator.sql.tree import range_vars

#: slots whose steps from different changes share one migration
_SHARED = {
    Slot.EXPAND,
    Slot.EXPAND_CONCURRENT,
    Slot.EXPAND_LATE,
    Slot.CONTRACT_PREPARE,
    Slot.CONTRACT_VALIDATE,
    Slot.CONTRACT_DROP_INDEXES,
    Slot.CONTRACT_REVALIDATE,
}
_SUFFIX = {
    Slot.EXPAND: "expand",
    Slot.EXPAND_ENUM: "expand_enum",
    Slot.EXPAND_CONCURRENT: "expand_concurrently",
    Slot.EXPAND_LATE: "expand_after",
    Slot.BACKFILL_CHECK: "check_rows",
    Slot.BACKFILL: "backfill",
    Slot.CONTRACT_PREPARE: "contract_checks",
    Slot.CONTRACT_VALIDATE: "contract_validate",
    Slot.CONTRACT_DROP_INDEXES: "contract_drop_indexes",
    Slot.CONTRACT_SWAP: "contract",
    Slot.CONTRACT_REVALIDATE: "contract_revalidate",
}


def _builds_index_only(change: Change) -> bool:
    """A concurrent index build the planner made (its steps all in that slot)."""
    return (
        not change.passthrough
        and bool(change.steps)
        and all(step.slot is Slot.EXPAND_CONCURRENT for step in change.steps)
    )


#: statements that only create something new, which no statement before them needs
_CREATING_KINDS = frozenset(
    {
        "CreateStmt",
        "IndexStmt",
        "CreateSeqStmt",
        "CreateEnumStmt",
        "CompositeTypeStmt",
        "CreateDomainStmt",
        "CreateSchemaStmt",
        "CreateFunctionStmt",
        "ViewStmt",
    }
)


def _names(change: Change) -> set[str]:
    """The names of the tables the statements of ``change`` name (the last part: a
    table of another schema of the same name counts as the same)."""
    found = set()
    for step in change.steps:
        for statement in step.statements or ():
            found |= {str(rv.get("relname")) for rv in range_vars(statement.fields)}
    return found


def _adds_apart_from(later: Change, change: Change) -> bool:
    """``later`` passes through statements that only create something new (no ``OR
    REPLACE``) and name none of the tables ``change`` names: a moment change before it
    may commit after it (lemmy's 0172: ``ADD COLUMN c ... NOT NULL DEFAULT '{}'; ALTER
    COLUMN c DROP DEFAULT; CREATE TABLE federation_queue_state ...``)."""
    if not later.passthrough:
        return False
    statements = [s for step in later.steps for s in step.statements or ()]
    return (
        bool(statements)
        and all(s.kind in _CREATING_KINDS and not s.fields.get("replace") for s in statements)
        and not _names(later) & _names(change)
    )


def _refuse_parting_a_trigger_from_its_column(trigger: Change, before: list[Change]) -> None:
    """A ``CREATE TRIGGER`` the plan commits after the concurrent index builds (it
    changes what old code's writes do: F53), on a table a column of which an earlier
    statement adds in the expand migration: during the builds the column would exist
    without the trigger that may fill it, where the naive file never lets a row in
    without it (plandiff F55: ``ADD COLUMN code; CREATE INDEX ...; CREATE TRIGGER
    items_code ... NEW.code := ...``). Refused: the planner does not read the trigger
    function to know it only writes the new column."""
    statements = [s for step in trigger.steps for s in step.statements or ()]
    if not statements or statements[0].kind != "CreateTrigStmt":
        return
    table = _names(trigger)
    for change in before:
        for step in change.steps:
            if step.slot is not Slot.EXPAND:
                continue
            for statement in step.statements or ():
                commands = statement.fields.get("cmds") or ()
                adds = statement.kind == "AlterTableStmt" and any(
                    item.get("AlterTableCmd", {}).get("subtype") == "AT_AddColumn"
                    for item in commands
                )
                if adds and _names(change) & table:
                    raise CannotPlan(
                        f"`{excerpt(trigger.source)}` commits after the plan's concurrent "
                        "index builds (a trigger changes what running code's writes do from "
                        f"the moment it commits), but `{excerpt(change.source)}` adds a "
                        "column to its table before them: during the builds the column would "
                        "exist without the trigger that may fill it",
                        hint="build the indexes in a change of their own, before or after this one",
                    )


def keep_pass_through_order(changes: list[Change]) -> list[Change]:
    """Statements passed through keep their order in the file: a transactional one that
    follows a non-transactional one moves to a later expand migration. So does a default
    change after a concurrent index build the planner made: committed before the build,
    old code's inserts meanwhile would miss the default the naive file still gives them
    (not the default of a column the file adds: it stays with the column); and one that
    only such builds follow (plandiff F29), other such changes, or statements that only
    create something new apart from its tables (:func:`_adds_apart_from`): they change
    no row it changes, so the default changes last, as the naive file's does."""
    seen_concurrent = False
    seen_index_build = False
    builds = IndexBuilds()
    ordered: list[Change] = []
    for index, change in enumerate(changes):
        only_builds_after = index + 1 < len(changes) and all(
            _builds_index_only(later)
            or later.changes_old_inserts
            or _adds_apart_from(later, change)
            for later in changes[index + 1 :]
        )
        built_by = builds.uses(change)
        if built_by is not None:  # F42: it uses an index built concurrently before it
            change = after_the_builds(change, built_by)
            seen_concurrent = True
        builds.note(change)
        if not change.passthrough and any(s.slot is Slot.EXPAND_CONCURRENT for s in change.steps):
            seen_index_build = True
        if change.passthrough:
            step = change.steps[0]
            if step.slot == Slot.EXPAND_CONCURRENT:
                if any(c.passthrough and c.steps[0].slot == Slot.EXPAND_LATE for c in ordered):
                    raise CannotPlan(
                        "the change file alternates statements that need a transaction with "
                        "statements that cannot run in one more than once",
                        hint="split it into two files and plan each",
                    )
                seen_concurrent = True
            elif seen_concurrent or (
                (seen_index_build or only_builds_after) and change.changes_old_inserts
            ):
                _refuse_parting_a_trigger_from_its_column(change, ordered)
                change = replace(change, steps=(replace(step, slot=Slot.EXPAND_LATE),))
        if built_by is not None or (
            change.passthrough and seen_concurrent and change.steps[0].slot == Slot.EXPAND_LATE
        ):
            builds.moved(change)  # after the builds for the file's order: others wait for it
        ordered.append(change)
    return ordered


#: backfill migrations after the deploy sort after the ones before it
_LATE = 1_000_000_000


def _before_the_deploy(changes: list[Change]) -> set[int]:
    """The changes whose data changes run before the deploy the plan names: every
    ``UPDATE`` and ``DELETE`` of the file (run once the code that writes the new shape
    is deployed, its batches would overwrite what that code writes meanwhile; the
    naive file runs before that code), except one that only changes rows where a
    column is NULL that the deploy's code writes on every insert and update (``UPDATE
    t SET c = 'x' WHERE c IS NULL; ALTER ... SET NOT NULL``): after the deploy, the
    code's rows are not NULL there, and the batches also fix what old code wrote."""
    enforced: set[tuple[str, str, str]] = set()
    for change in changes:
        for condition in change.conditions:
            if condition.kind == "not_null":
                enforced |= {(condition.schema, condition.table, c) for c in condition.columns}
        if change.row_change is not None and change.row_change.fill:
            fill = change.row_change
            enforced |= {(fill.schema, fill.table, c) for c, _ in fill.assignments}
    early = set()
    for index, change in enumerate(changes):
        data = change.row_change
        if data is None or data.fill:
            continue
        if not {(data.schema, data.table, c) for c in data.null_tested} & enforced:
            early.add(index)
    return early


def _in_file_order(changes: list[Change], index: int, early: set[int]) -> bool:
    """The planner's own backfill of ``changes[index]`` (the copy into a renamed or
    retyped column's new column, a fill) runs in file order among the data changes that
    run before the deploy, when one comes after it in the file and nothing must be
    deployed before it: ``RENAME COLUMN c TO d; UPDATE t SET d = 5 WHERE d IS NULL``
    ran the UPDATE before the copy, on a ``d`` still NULL in every row, and overwrote
    them all (generator, seed 7301)."""
    change = changes[index]
    if change.row_change is not None and not change.row_change.fill:
        return False  # a data change of the file after the deploy: stays there
    if change.deploy_before.get("expand") or change.deploy_before.get("backfill"):
        return False
    return any(later > index for later in early)


def _deploy_text(changes: list[Change], indexes: set[int], phase: Phase) -> str:
    texts = []
    for index in sorted(indexes):
        text = changes[index].deploy_before.get(phase)
        if text and text not in texts:
            texts.append(text)
    return "; ".join(texts)


def swap_owners(changes: list[Change]) -> list[int]:
    """For each change, the first change whose contract swap its own joins: changes
    whose swaps share a table (:attr:`Change.swap_tables`: a key and the foreign keys
    that reference it) swap in one transaction, so no client sees one half."""
    owners = list(range(len(changes)))
    for index, change in enumerate(changes):
        for earlier in range(index):
            if change.swap_tables & changes[earlier].swap_tables:
                owners[index] = owners[earlier]
                break
    return owners


def _refuse_defaults_after_the_deploy(changes: list[Change], deploy: str) -> None:
    """A plan that needs a deploy before its expand phase cannot also change a default
    there: the naive file changes it at once (the deploy point), the plan only when its
    expand runs, after the deploy, and rows inserted in between get the old default
    (plandiff F21: ``DROP NOT NULL; ADD COLUMN n; SET DEFAULT``)."""
    for change in changes:
        if change.changes_defaults and any(s.slot.phase == "expand" for s in change.steps):
            raise CannotPlan(
                f"the plan needs a deploy before its expand phase ({deploy}), and "
                f"`{excerpt(change.source)}` would change what inserts get only after it: "
                "rows the deployed code inserts in between get the old default, where the "
                "naive file gives them the new one",
                hint="plan the default change (with the column it completes) in a file of its own "
                "first, then the rest",
            )


def assemble(changes: list[Change], base_name: str) -> Plan:
    """The plan's migrations, in the order they run."""
    changes = keep_pass_through_order(changes)
    owners_of_swap = swap_owners(changes)
    early = _before_the_deploy(changes)
    #: (slot, the change that owns it alone (0: shared), part of a shared expand slot)
    groups: dict[tuple[int, int, int], list[tuple[int, Step]]] = {}
    part = 0  # a new part of the shared expand migrations after each change that ends one
    for change_index, change in enumerate(changes):
        part += change.starts_expand
        for position, step in enumerate(change.steps):
            if step.slot in _SHARED:
                key = (int(step.slot), 0, part if step.slot in EXPAND_SLOTS else 0)
            elif step.slot is Slot.BACKFILL and (
                change_index in early or _in_file_order(changes, change_index, early)
            ):
                key = (int(step.slot), change_index * 1000 + position + 1, 0)
            elif step.slot in (Slot.BACKFILL, Slot.EXPAND_ENUM):
                key = (int(step.slot), _LATE + change_index * 1000 + position + 1, 0)
            else:
                key = (int(step.slot), owners_of_swap[change_index] * 1000 + 1, 0)
            group = groups.setdefault(key, [])
            if step.slot is Slot.CONTRACT_REVALIDATE and any(s == step for _, s in group):
                continue  # one foreign key added again by two swaps: validated once
            group.append((change_index, step))
        part += change.ends_expand
    planned_changes = [c for c in changes if not c.passthrough]
    migrations: list[PlannedMigration] = []
    parts_seen: dict[Slot, int] = {}
    for key in sorted(groups):
        members = groups[key]
        slot = Slot(key[0])
        owners = tuple(sorted({index for index, _ in members}))
        name = f"{base_name}_{_SUFFIX[slot]}"
        if key[1] and len(planned_changes) > 1:
            name = f"{base_name}_{changes[owners[0]].label}_{_SUFFIX[slot]}"
        elif not key[1]:
            parts_seen[slot] = parts_seen.get(slot, 0) + 1
            if parts_seen[slot] > 1:
                name = f"{name}_{parts_seen[slot]}"
        migrations.append(PlannedMigration(name, slot, tuple(step for _, step in members), owners))
    if len(migrations) == 1:
        migrations = [replace(migrations[0], name=base_name)]
    # what must be deployed before each phase: on its first migration (a phase without
    # one still gates a deploy: on the next phase's first), but after the data changes
    # that run before the deploy
    involved = {index for m in migrations for index in m.changes}
    last_early = max(
        (i for i, m in enumerate(migrations) if m.slot is Slot.BACKFILL and set(m.changes) & early),
        default=-1,
    )
    for phase in PHASES:
        text = _deploy_text(changes, involved, phase)
        if not text:
            continue
        if phase == "expand":
            _refuse_defaults_after_the_deploy(changes, text)
        if phase == "expand" and last_early >= 0:
            data = changes[min(early)].source
            raise CannotPlan(
                f"the plan needs a deploy before its expand phase ({text}), but "
                f"`{excerpt(data)}` must run before the deploy: in batches after it, it would "
                "overwrite what the new code writes meanwhile",
                hint="run the data change in a plan of its own first, then plan the rest",
            )
        later = [
            i
            for i, m in enumerate(migrations)
            if PHASES.index(m.phase) >= PHASES.index(phase) and i > last_early
        ]
        if later:
            first = later[0]
            joined = "; ".join(t for t in (migrations[first].deploy_before, text) if t)
            migrations[first] = replace(migrations[first], deploy_before=joined)
    _refuse_defaults_before_other_migrations(changes, migrations)
    lock_splits = len({key[2] for key in groups if key[2]})
    return Plan(tuple(changes), tuple(migrations), lock_splits)


def _refuse_defaults_before_other_migrations(
    changes: list[Change], migrations: list[PlannedMigration]
) -> None:
    """A change of what old code's writes get (:attr:`Change.changes_old_inserts`)
    takes effect when its migration commits; the naive file's, at once, at the deploy
    point (without one: when the file is done). A migration in between lets old code
    write meanwhile and get the new behaviour the naive file does not give it yet
    (plandiff F29: ``DROP EXPRESSION`` before a batched ``DELETE``): refused."""
    deploy = next((i for i, m in enumerate(migrations) if m.deploy_before), len(migrations))
    for index, migration in enumerate(migrations):
        moments = [changes[c] for c in migration.changes if changes[c].changes_old_inserts]
        if moments and index + 1 < deploy:
            following = migrations[index + 1].name
            raise CannotPlan(
                f"`{excerpt(moments[0].source)}` changes what running code's inserts (and "
                f"updates) get from the moment migration {migration.name} commits, and the "
                f"plan runs {following} after it, before "
                + ("the deploy point" if deploy < len(migrations) else "it is done")
                + ": code writing meanwhile gets the new behaviour, where the naive file, "
                "run at once, does not give it yet",
                hint="plan the statement in a file of its own, before or after this one",
            )
