"""A rehearsal report as text (terminal), JSON (machines) and markdown (PR comment)."""

from __future__ import annotations

import json
from typing import Any

from migrator.rehearse.report import (
    ALREADY_APPLIED,
    EMPTY_DOWN,
    NOT_RUN,
    LintSummary,
    MigrationRehearsal,
    RehearsalReport,
)

#: pg_locks mode names as a DBA says them
_MODE_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}


def mode_name(mode: str) -> str:
    return _MODE_NAMES.get(mode, mode)


def _verdict(migration: MigrationRehearsal) -> str:
    if migration.status == ALREADY_APPLIED:
        return "already applied (in the schema file)"
    if migration.status == NOT_RUN:
        return "not run (an earlier migration failed)"
    if not migration.up_ok:
        return "FAILED to apply"
    if not migration.reversible:
        return (
            f"ok ({EMPTY_DOWN})" if EMPTY_DOWN in migration.notes else "ok (up-only: irreversible)"
        )
    if migration.down_ok is False:
        return "FAILED to revert"
    if migration.round_trip_ok is False:
        again = ", and up again failed" if migration.reapply_ok is False else ""
        return f"FAILED round trip: down does not restore the schema{again}"
    if migration.reapply_ok is False:
        return "FAILED to apply again after down"
    return "ok (up, down, up)"


def _ms(value: int | None) -> str:
    """``7 ms``, ``1.08 s``; ``-`` when there is nothing to say."""
    if value is None:
        return "-"
    return f"{value} ms" if value < 1000 else f"{value / 1000:.2f} s"


def summary_line(report: RehearsalReport) -> str:
    """The verdict, counts, server and time: the text report's last line."""
    failures = len(report.failures)
    rehearsed = len(report.rehearsed)
    lint = ""
    if report.lint.errors:
        lint = f", {len(report.lint.errors)} lint error(s)"
    verdict = "FAILED" if not report.ok else "ok"
    return (
        f"dry-run {verdict}: {rehearsed} migration(s) rehearsed, {failures} failed{lint} "
        f"on {report.target} {report.server_version} in {_ms(report.total_ms)}"
    )


def text_header(lint: LintSummary, schema_file: str | None, seed_rows: int) -> list[str]:
    """The lines before the migrations: the starting point, the seeding, the linter."""
    lines: list[str] = []
    if schema_file:
        lines.append(f"starting from schema file {schema_file}")
    if seed_rows:
        lines.append(f"seeding {seed_rows} row(s) into every empty table before each migration")
    if lint.note:
        lines.append(f"lint: {lint.note}")
    elif lint.ran:
        lines.append(f"lint: {len(lint.errors)} error(s), {lint.warnings} warning(s)")
    lines.extend(f"lint error: {error}" for error in lint.errors)
    return lines


def migration_line(migration: MigrationRehearsal) -> str:
    """``001_name: ok (up, down, up)  up 5 ms, down 1 ms``: one migration in one line."""
    timing = ""
    if migration.duration_ms is not None:
        timing = f"  up {_ms(migration.duration_ms)}"
        if migration.down_duration_ms is not None:
            timing += f", down {_ms(migration.down_duration_ms)}"
    return f"{migration.label}: {_verdict(migration)}{timing}"


def text_migration(migration: MigrationRehearsal) -> list[str]:
    """A migration's line and its indented details (locks, rewrites, errors, notes)."""
    lines = [migration_line(migration)]
    if migration.segments > 1:
        lines.append(
            f"  {migration.segments} segments at its commit points, each committed on "
            "its own (a failure leaves the ones before it applied)"
        )
    if not migration.transactional and migration.status not in (ALREADY_APPLIED, NOT_RUN):
        lines.append("  no transaction: locks sampled while it ran (a brief one can be missed)")
    for lock in migration.locks:
        lines.append(
            f"  lock {mode_name(lock.mode)} on {lock.relation} ({lock.blocks}) at {lock.statement}"
        )
    lines += [
        f"  rewrote {table} (every row copied under its lock)" for table in migration.rewrites
    ]
    lines += [f"  left INVALID index {index}" for index in migration.invalid_indexes]
    if migration.backfill_batches is not None:
        lines.append(
            f"  backfill: {migration.backfill_batches} batch(es), "
            f"{migration.backfill_rows} row(s) changed (updated or deleted)"
        )
    lines += [f"  schema after down differs: {line}" for line in migration.round_trip_diff]
    if migration.error:
        lines.append(f"  error: {migration.error}")
    lines += [f"  note: {note}" for note in migration.notes]
    return lines


def render_text(report: RehearsalReport) -> str:
    lines = text_header(report.lint, report.schema_file, report.seed_rows)
    for migration in report.migrations:
        lines += text_migration(migration)
    lines.append(summary_line(report))
    return "\n".join(lines)


def _migration_json(migration: MigrationRehearsal) -> dict[str, Any]:
    return {
        "version": migration.version,
        "name": migration.name,
        "status": migration.status,
        "ok": migration.ok,
        "reversible": migration.reversible,
        "transactional": migration.transactional,
        "segments": migration.segments,
        "up_ok": migration.up_ok,
        "down_ok": migration.down_ok,
        "reapply_ok": migration.reapply_ok,
        "round_trip_ok": migration.round_trip_ok,
        "round_trip_diff": list(migration.round_trip_diff),
        "duration_ms": migration.duration_ms,
        "down_duration_ms": migration.down_duration_ms,
        "locks": [
            {
                "relation": lock.relation,
                "mode": mode_name(lock.mode),
                "pg_mode": lock.mode,
                "statement": lock.statement,
            }
            for lock in migration.locks
        ],
        "rewrites": list(migration.rewrites),
        "invalid_indexes": list(migration.invalid_indexes),
        "backfill": None
        if migration.backfill_batches is None
        else {"batches": migration.backfill_batches, "rows_updated": migration.backfill_rows},
        "error": migration.error,
        "went_on": migration.went_on,
        "notes": list(migration.notes),
    }


def render_json(report: RehearsalReport) -> str:
    data = {
        "ok": report.ok,
        "target": report.target,
        "server_version": report.server_version,
        "schema_file": report.schema_file,
        "seed_rows": report.seed_rows,
        "server_start_ms": report.server_start_ms,
        "total_ms": report.total_ms,
        "lint": {
            "ran": report.lint.ran,
            "errors": list(report.lint.errors),
            "warnings": report.lint.warnings,
            "note": report.lint.note,
        },
        "migrations": [_migration_json(m) for m in report.migrations],
    }
    return json.dumps(data, indent=2)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: RehearsalReport) -> str:
    """A pull-request comment: a verdict, a table, and the details that need a look."""
    icon = "✅" if report.ok else "❌"
    lines = [
        f"### {icon} migrate dry-run",
        "",
        summary_line(report),
        "",
        "| migration | result | up | down | locks on existing tables | rewrites |",
        "|---|---|---|---|---|---|",
    ]
    for migration in report.migrations:
        locks = ", ".join(f"{mode_name(lock.mode)} {lock.relation}" for lock in migration.locks)
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    f"`{migration.label}`",
                    _verdict(migration),
                    _ms(migration.duration_ms),
                    _ms(migration.down_duration_ms),
                    locks or "-",
                    ", ".join(migration.rewrites) or "-",
                )
            )
            + " |"
        )
    details = [m for m in report.migrations if m.error or m.round_trip_diff or m.invalid_indexes]
    if report.lint.errors:
        lines += ["", "**Lint errors**", ""]
        lines += [f"- {_cell(error)}" for error in report.lint.errors]
    for migration in details:
        lines += ["", f"<details><summary><code>{migration.label}</code></summary>", ""]
        if migration.error:
            lines.append(f"- error: {_cell(migration.error)}")
        lines += [
            f"- schema after down differs: {_cell(line)}" for line in migration.round_trip_diff
        ]
        lines += [f"- left INVALID index `{index}`" for index in migration.invalid_indexes]
        lines += ["", "</details>"]
    return "\n".join(lines)


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
