"""Turn planned migrations into file text: directives, a header saying what the
migration does and what must be deployed before the next phase, and one commented
statement per step. Down files undo the steps newest first, or say why they cannot."""

from __future__ import annotations

from dataclasses import dataclass

from migrator.plan.model import AS_WRITTEN, Plan, PlannedMigration, lint_ignored
from migrator.plan.sql_text import literal, parse_statement
from migrator.source.model import PHASES
from migrator.sql.classify import non_transactional_reason
from migrator.sql.enums import AlterTableType
from migrator.sql.syntax import is_node

#: statements run without a transaction wait without lock_timeout: a concurrent build
#: or VALIDATE waiting for its lock blocks no client, and a timeout would leave an
#: INVALID index behind
_NO_TIMEOUT = "0"


@dataclass(frozen=True)
class RenderedMigration:
    migration: PlannedMigration
    up: str
    #: ``None`` when the migration cannot be undone (written as an up-only file)
    down: str | None


def _comment(text: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        line = "--"
        for word in words:
            if len(line) + 1 + len(word) > width and line != "--":
                lines.append(line)
                line = "--   "
            line += " " + word
        lines.append(line)
    return lines


def _format_duration(ms: int) -> str:
    if ms == 0:
        return "0"
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _next_note(plan: Plan, position: int) -> str:
    migrations = plan.migrations
    if position + 1 >= len(migrations):
        return "This is the last migration of the plan."
    following = migrations[position + 1]
    if following.phase == migrations[position].phase and not following.deploy_before:
        return f"Next: {following.name}, no deploy needed in between."
    need = following.deploy_before or "nothing"
    return f"Before the next phase ({following.phase}) runs, deploy: {need}."


def _header(plan: Plan, position: int, source_name: str) -> list[str]:
    migration = plan.migrations[position]
    lines = [f"-- Planned by `migrate plan {source_name}` from:"]
    for index in migration.changes:
        for line in plan.changes[index].source.splitlines() or [""]:
            lines.append(f"--   {line}")
    lines.append("--")
    lines += _comment(
        f"Step {position + 1} of {len(plan.migrations)}, phase {migration.phase}: "
        + _describe(migration)
    )
    if migration.deploy_before and position and PHASES.index(migration.phase) > 0:
        lines += _comment(f"Deployed before this phase: {migration.deploy_before}.")
    lines += _comment(_next_note(plan, position))
    return lines


def _describe(migration: PlannedMigration) -> str:
    mode = migration.mode
    if mode == "backfill":
        return (
            "a batched backfill: one short transaction per batch of keys, resumable, "
            "progress kept in the ledger (docs/backfill.md)."
        )
    if mode == "no-transaction":
        return (
            "each statement runs on its own, outside a transaction; every statement can "
            "run again after a failure."
        )
    return "one short transaction under lock_timeout, retried by the runner when it times out."


def render_up(plan: Plan, position: int, source_name: str, lock_timeout_ms: int) -> str:
    migration = plan.migrations[position]
    lines = [f"-- migrate:phase {migration.phase}"]
    if migration.mode == "no-transaction":
        lines.append("-- migrate:no-transaction")
        lines.append(f"-- migrate:lock-timeout {_NO_TIMEOUT}")
    elif migration.mode == "backfill":
        spec = migration.steps[0].backfill
        assert spec is not None
        lines.append(spec.directive())
        lines.append(f"-- migrate:lock-timeout {_format_duration(lock_timeout_ms)}")
    else:
        lines.append(f"-- migrate:lock-timeout {_format_duration(lock_timeout_ms)}")
    if migration.mode == "transaction":
        lines += _together(migration, [step.sql for step in migration.steps])
    lines += _header(plan, position, source_name)
    previous_note = ""
    for step in migration.steps:
        lines.append("")
        if step.note not in (AS_WRITTEN, previous_note):
            lines += _comment(step.note)
        previous_note = step.note
        sql = step.sql
        if step.lint_ignore is not None:
            sql = lint_ignored(sql, *step.lint_ignore)
        lines.append(sql.rstrip().rstrip(";") + ";")
    return "\n".join(lines) + "\n"


def _together(
    migration: PlannedMigration, statements: list[str], *, down: bool = False
) -> list[str]:
    """The lint exception of a transaction whose planned statements must commit
    together. An up whose statements all pass through as written gets none: they are
    linted as the developer wrote them. A down's statements are all the planner's."""
    planned = down or any(step.note != AS_WRITTEN for step in migration.steps)
    if not planned or len(statements) < 2:
        return []
    if migration.phase != "expand":
        reason = (
            "one short transaction of catalog-only statements, so no client sees a "
            "half-done swap; retried under lock_timeout"
        )
    elif any(sql.startswith("CREATE TRIGGER") for sql in statements):
        reason = (
            "catalog-only statements that must commit together (a new column and its sync "
            "trigger: no write may slip between them); the transaction is short and retried"
        )
    else:
        reason = (
            "catalog-only statements that must commit together; the transaction is short "
            "and retried"
        )
    return [f"-- migrate:lint-ignore-file statements-after-access-exclusive -- {reason}"]


def _runs_alone(sql: str) -> bool:
    """The statement cannot share a transaction with the others of a down: a concurrent
    index statement, or a ``VALIDATE`` whose scan must not hold the lock an earlier
    statement of the same transaction took."""
    if _concurrent(sql):
        return True
    statement = parse_statement(sql)
    return is_node(statement, "AlterTableStmt") and any(
        command.subtype == AlterTableType.AT_ValidateConstraint for command in statement.cmds or ()
    )


def _concurrent(sql: str) -> bool:
    return non_transactional_reason(sql) is not None


def _one_by_one(statements: list[str], lock_timeout_ms: int) -> list[str]:
    """The header and statements of a down run statement by statement: concurrent
    index statements without lock_timeout (a timeout would leave an INVALID index),
    every other one under it (a waiting ACCESS EXCLUSIVE would queue every client)."""
    timed = _format_duration(lock_timeout_ms)
    deciding = [sql for sql in statements if not sql.startswith("DO ")]  # DO: reads pg_index
    current = _NO_TIMEOUT if deciding and _concurrent(deciding[0]) else timed
    lines = ["-- migrate:no-transaction", f"-- migrate:lock-timeout {current}"]
    for sql in statements:
        if not sql.startswith("DO "):
            wanted = _NO_TIMEOUT if _concurrent(sql) else timed
            if wanted != current:
                lines += ["", f"SET lock_timeout = {literal(wanted)};"]
                current = wanted
        lines += ["", sql.rstrip().rstrip(";") + ";"]
    return lines


def render_down(plan: Plan, position: int, lock_timeout_ms: int) -> str | None:
    """The down file: every step's undo, newest step first. It runs in one transaction
    under lock_timeout unless a statement must run on its own; then each statement runs
    on its own (each can run again), under lock_timeout except the concurrent index
    statements."""
    migration = plan.migrations[position]
    if not migration.reversible:
        return None
    statements = [sql for step in reversed(migration.steps) for sql in step.undo or ()]
    undoes = f"-- Undoes {migration.name} (planned by migrate plan)."
    if any(_runs_alone(sql) for sql in statements):
        lines = _one_by_one(statements, lock_timeout_ms)
        return "\n".join([*lines[:2], undoes, *lines[2:]]) + "\n"
    lines = []
    if migration.mode != "backfill" or statements:
        lines.append(f"-- migrate:lock-timeout {_format_duration(lock_timeout_ms)}")
        lines += _together(migration, statements, down=True)
    lines.append(undoes)
    if not statements:
        lines.append(
            "-- Nothing to undo here: the data it changed lives in what an earlier "
            "migration's down removes."
            if migration.mode == "backfill"
            else "-- Nothing to undo here."
        )
    for sql in statements:
        lines.append("")
        lines.append(sql.rstrip().rstrip(";") + ";")
    return "\n".join(lines) + "\n"


def irreversible_reason(plan: Plan, position: int) -> str:
    """Why a migration has no down file (for its header and the printed plan)."""
    migration = plan.migrations[position]
    final = [step for step in migration.steps if step.undo is None]
    if not final:
        return ""
    dropping = [step for step in final if "DROP COLUMN" in step.sql.upper()]
    step = (dropping or final)[0]
    first = step.sql.strip().splitlines()[0]
    if step.note == AS_WRITTEN:
        return f"no down can be derived for `{first}` (write the down file by hand if needed)"
    return f"`{first}` cannot be undone"


def render(plan: Plan, source_name: str, lock_timeout_ms: int) -> list[RenderedMigration]:
    rendered = []
    for position, migration in enumerate(plan.migrations):
        up = render_up(plan, position, source_name, lock_timeout_ms)
        down = render_down(plan, position, lock_timeout_ms)
        if down is None:
            reason = irreversible_reason(plan, position)
            up = up.replace(
                "-- Planned by",
                f"-- Irreversible (no down file): {reason}.\n-- Planned by",
                1,
            )
        rendered.append(RenderedMigration(migration, up, down))
    return rendered
