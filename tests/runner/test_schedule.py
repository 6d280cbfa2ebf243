"""Planning, status and repair decisions in memory (no database): what ``up`` and
``down`` will run, with which settings, and what they refuse."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.config import Settings
from migrator.db.indexes import InvalidIndex
from migrator.db.quoting import quote_ident, quote_literal, quote_qualified
from migrator.db.records import LedgerEntry
from migrator.errors import RefusedState, SourceError, UsageError
from migrator.runner.progress import step_of
from migrator.runner.recovery import plan_repair
from migrator.runner.retry import RetryPolicy
from migrator.runner.scaffold import create_migration, migration_name, next_version
from migrator.runner.schedule import plan_down, plan_up, render_sql
from migrator.runner.status import build_status, verify_problems
from migrator.source import MigrationSet, discover
from tests.helpers_db import write_migrations

FILES = {
    "001_a.up.sql": "CREATE TABLE a (id int);\n",
    "001_a.down.sql": "DROP TABLE a;\n",
    "002_b.up.sql": "-- migrate:lock-timeout 1s\n-- migrate:statement-timeout 30s\n"
    "CREATE TABLE b (id int);\n",
    "002_b.down.sql": "DROP TABLE b;\n",
    "003_c.up.sql": "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY c_i ON a (id);\n"
    "CREATE INDEX CONCURRENTLY c_j ON a (id);\n",
    "003_c.down.sql": "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY c_j;\n"
    "DROP INDEX CONCURRENTLY c_i;\n",
    "004_d.sql": "INSERT INTO a VALUES (1);\n",
}


@pytest.fixture
def migrations(tmp_path: Path) -> MigrationSet:
    return discover(write_migrations(tmp_path / "m", FILES))


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(migrations_dir=tmp_path, **values)


def _entry(version: int, state: str = "applied", **values: Any) -> LedgerEntry:
    fields: dict[str, Any] = {
        "version": version,
        "name": f"v{version}",
        "up_checksum": "x",
        "down_checksum": None,
        "applied_at": datetime(2026, 1, 1, tzinfo=UTC),
        "applied_by": "postgres via test@host",
        "duration_ms": 3,
        "transactional": state == "applied",
        "phase": None,
        "state": state,
        "direction": "up",
        "statements_done": 0,
        "statements_total": 2,
        "error": None,
    }
    fields.update(values)
    return LedgerEntry(**fields)


def _stopped(
    migrations: MigrationSet, version: int, state: str, done: int, **values: Any
) -> LedgerEntry:
    """The row of a no-transaction run of ``version`` that stopped after ``done``
    statements, with the progress steps it recorded (one per statement)."""
    statements = migrations.by_version()[version].up.statements[:done]
    steps = [step_of([statement]).to_json() for statement in statements]
    return _entry(version, state, statements_done=done, progress={"steps": steps}, **values)


def _applied(migrations: MigrationSet, *versions: int) -> dict[int, LedgerEntry]:
    by_version = migrations.by_version()
    return {
        v: _entry(
            v,
            up_checksum=by_version[v].up.checksum,
            down_checksum=by_version[v].down.checksum if by_version[v].down else None,
        )
        for v in versions
    }


def test_plan_up_takes_pending_in_order_with_resolved_timeouts(
    migrations: MigrationSet, tmp_path: Path
) -> None:
    plan = plan_up(migrations, _applied(migrations, 1), _settings(tmp_path, lock_timeout=250))

    assert [(s.version, s.transactional) for s in plan.steps] == [(2, True), (3, False), (4, True)]
    two, three, _ = plan.steps
    assert (two.lock_timeout_ms, two.statement_timeout_ms) == (1000, 30_000)  # directives win
    assert (three.lock_timeout_ms, three.statement_timeout_ms) == (250, 0)  # settings
    assert [s.line for s in three.statements] == [2, 3]


def test_plan_up_to(migrations: MigrationSet, tmp_path: Path) -> None:
    plan = plan_up(migrations, {}, _settings(tmp_path), to=2)

    assert [s.version for s in plan.steps] == [1, 2]


def test_plan_up_notes_out_of_order_and_drift(migrations: MigrationSet, tmp_path: Path) -> None:
    entries = _applied(migrations, 1, 3)
    entries[1] = _entry(1, up_checksum="changed")

    plan = plan_up(migrations, entries, _settings(tmp_path))

    assert [s.version for s in plan.steps] == [2, 4]
    assert any("002_b is older than the newest applied version 3" in n for n in plan.notes)
    assert any("001_a.up.sql changed after it was applied" in n for n in plan.notes)


def test_render_sql_shows_boundaries_and_settings(migrations: MigrationSet, tmp_path: Path) -> None:
    text = render_sql(plan_up(migrations, {}, _settings(tmp_path)))

    assert text.count("BEGIN;") == 3 and text.count("COMMIT;") == 3
    assert "SET LOCAL lock_timeout = '1s';\nSET LOCAL statement_timeout = '30s';" in text
    assert "SET lock_timeout = '5s';\nSET statement_timeout = 0;" in text
    assert "-- statement 2/2, 003_c.up.sql:3\nCREATE INDEX CONCURRENTLY c_j ON a (id);" in text
    assert "RESET statement_timeout;" in text


def test_an_unfinished_run_is_refused_unless_resuming(
    migrations: MigrationSet, tmp_path: Path
) -> None:
    entries = _applied(migrations, 1, 2)
    entries[3] = _stopped(migrations, 3, "failed", 1, error="boom", transactional=False)

    with pytest.raises(RefusedState) as refused:
        plan_up(migrations, entries, _settings(tmp_path))
    text = refused.value.one_line()
    assert "003_c.up.sql:3 (statement 2 of 2)" in text and "failed: boom" in text
    assert "migrate up --resume" in text and "migrate repair 3 --mark-applied" in text

    plan = plan_up(migrations, entries, _settings(tmp_path), resume=True)
    assert [(s.version, s.start_at) for s in plan.steps] == [(3, 1), (4, 0)]
    assert [s.line for s in plan.steps[0].statements] == [3]
    with pytest.raises(RefusedState):
        plan_down(migrations, entries, _settings(tmp_path))


def test_resume_refuses_a_run_above_to(migrations: MigrationSet, tmp_path: Path) -> None:
    entries = _applied(migrations, 1, 2)
    entries[3] = _stopped(migrations, 3, "failed", 1, error="boom", transactional=False)

    with pytest.raises(RefusedState) as refused:
        plan_up(migrations, entries, _settings(tmp_path), resume=True, to=2)

    assert "continue version 3, above --to 2" in refused.value.one_line()


def test_resume_refuses_to_rebuild_an_invalid_index(
    migrations: MigrationSet, tmp_path: Path
) -> None:
    entries = _applied(migrations, 1, 2)
    entries[3] = _stopped(migrations, 3, "failed", 1, transactional=False)
    invalid = [InvalidIndex("public", "c_j", "a")]

    with pytest.raises(RefusedState) as refused:
        plan_up(migrations, entries, _settings(tmp_path), resume=True, invalid_indexes=invalid)

    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."c_j";' in refused.value.one_line()


def test_plan_down_newest_first_and_up_only_refused(
    migrations: MigrationSet, tmp_path: Path
) -> None:
    entries = _applied(migrations, 1, 2, 3)

    assert [s.version for s in plan_down(migrations, entries, _settings(tmp_path)).steps] == [3]
    to_zero = plan_down(migrations, entries, _settings(tmp_path), to=0)
    assert [s.version for s in to_zero.steps] == [3, 2, 1]
    assert to_zero.steps[0].file.path.name == "003_c.down.sql"
    with pytest.raises(RefusedState, match="004_d is up-only"):
        plan_down(migrations, _applied(migrations, 1, 2, 3, 4), _settings(tmp_path), steps=2)
    with pytest.raises(UsageError):
        plan_down(migrations, entries, _settings(tmp_path), steps=1, to=0)


def test_transactional_file_with_concurrently_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    migration_set = discover(
        write_migrations(
            tmp_path / "m",
            {
                "001_a.up.sql": "CREATE TABLE a (id int);\n",
                "002_i.up.sql": "CREATE INDEX CONCURRENTLY i ON a (id);\nANALYZE a;\n",
            },
        )
    )

    with pytest.raises(SourceError) as refused:
        plan_up(migration_set, {}, _settings(tmp_path))

    assert "002_i.up.sql:1" in refused.value.one_line()
    assert "-- migrate:no-transaction" in refused.value.one_line()


def test_concurrently_alone_in_an_unmarked_file_is_planned_outside_a_transaction(
    tmp_path: Path,
) -> None:
    migration_set = discover(
        write_migrations(tmp_path / "m", {"001_i.up.sql": "CREATE INDEX CONCURRENTLY i ON a (id);"})
    )

    (step,) = plan_up(migration_set, {}, _settings(tmp_path)).steps

    assert not step.transactional
    assert "no transaction" in render_sql(plan_up(migration_set, {}, _settings(tmp_path)))


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(retries=6, delay_ms=100, max_delay_ms=1000)
    rng = random.Random(7)

    delays = [policy.delay_before(n, rng) for n in range(1, 7)]

    for n, delay in enumerate(delays, start=1):
        ceiling = min(1000, 100 * 2 ** (n - 1))
        assert ceiling // 2 <= delay <= ceiling
    assert policy.attempts == 7


def test_status_and_verify_states(migrations: MigrationSet) -> None:
    entries = _applied(migrations, 1, 2)
    entries[2] = _entry(2, up_checksum="old")
    entries[3] = _stopped(migrations, 3, "partial", 1, transactional=False)
    entries[9] = _entry(9)

    report = build_status(migrations, entries, "public.migrator_ledger")
    problems = verify_problems(migrations, entries, [InvalidIndex("public", "c_i", "a")])

    assert [(m.version, m.state) for m in report.migrations] == [
        (1, "applied"),
        (2, "drifted"),
        (3, "partial"),
        (4, "pending"),
        (9, "missing file"),
    ]
    assert report.current_version == 9
    assert [(p.kind, p.version) for p in problems] == [
        ("drift", 2),
        ("partial", 3),
        ("out-of-order", 4),
        ("missing-file", 9),
        ("invalid-index", None),
    ]


def test_repair_choices(migrations: MigrationSet) -> None:
    entries = _applied(migrations, 1, 2)
    entries[3] = _stopped(migrations, 3, "failed", 1, transactional=False)

    with pytest.raises(UsageError, match="Choose what is true now"):
        plan_repair(migrations, entries)
    (mark,) = plan_repair(migrations, entries, choice="mark-applied")
    assert (mark.kind, mark.version) == ("mark-applied", 3)
    (forget,) = plan_repair(migrations, entries, version=3, choice="forget")
    assert forget.kind == "forget"
    # nothing done yet: forgetting is the only sensible default
    entries[3] = _entry(3, "failed", statements_done=0, transactional=False)
    assert [c.kind for c in plan_repair(migrations, entries)] == ["forget"]
    with pytest.raises(UsageError, match="not in the ledger"):
        plan_repair(migrations, entries, version=7)
    assert plan_repair(migrations, _applied(migrations, 1, 2)) == []


def test_new_versions_follow_the_directory(tmp_path: Path) -> None:
    assert next_version(tmp_path / "missing") == "001"
    write_migrations(tmp_path / "seq", {"009_x.up.sql": "SELECT 1;"})
    assert next_version(tmp_path / "seq") == "010"
    write_migrations(tmp_path / "bare", {"7_x.sql": "SELECT 1;"})
    assert next_version(tmp_path / "bare") == "8"
    write_migrations(tmp_path / "ts", {"20240101120000_x.up.sql": "SELECT 1;"})
    now = datetime(2026, 11, 22, 15, 30, 0, tzinfo=UTC)
    assert next_version(tmp_path / "ts", now) == "20261122153000"
    write_migrations(tmp_path / "future", {"29990101000000_x.up.sql": "SELECT 1;"})
    assert next_version(tmp_path / "future", now) == "29990101000001"

    up, down = create_migration(tmp_path / "new", "Add users!")
    assert (up.name, down.name) == ("001_add_users.up.sql", "001_add_users.down.sql")
    assert migration_name("  Index: users(email) ") == "index_users_email"
    with pytest.raises(UsageError):
        migration_name("!!!")


def test_a_name_with_accents_keeps_every_letter_and_one_without_ascii_is_refused() -> None:
    assert migration_name("ünï") == "uni"
    assert migration_name("Grüße an Zoë") == "grusse_an_zoe"
    assert migration_name("\uff21\uff22\uff23\uff11") == "abc1"  # full-width forms
    for name in ("søk", "添加用户", "ünï 日"):
        with pytest.raises(UsageError, match="no ASCII spelling"):
            migration_name(name)


@given(st.text(min_size=1))
def test_migration_names_are_ascii_and_drop_no_letter(name: str) -> None:
    letters = sum(1 for c in name if c.isalnum())
    try:
        cleaned = migration_name(name)
    except UsageError:
        return
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", cleaned)
    assert len(cleaned.replace("_", "")) >= letters


def test_quoting() -> None:
    assert quote_ident("users") == '"users"'
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_qualified("public", "t; DROP TABLE x") == '"public"."t; DROP TABLE x"'
    assert quote_literal("it's") == "'it''s'"
    with pytest.raises(ValueError):
        quote_ident("")


def test_plan_down_notes_a_down_file_changed_since_it_was_applied(
    migrations: MigrationSet, tmp_path: Path
) -> None:
    entries = _applied(migrations, 1, 2)
    entries[2] = _entry(2, down_checksum="an older down file")

    plan = plan_down(migrations, entries, _settings(tmp_path))

    assert [s.version for s in plan.steps] == [2]
    assert any("002_b.down.sql changed after its migration was applied" in n for n in plan.notes)
    assert not plan_down(migrations, _applied(migrations, 1, 2), _settings(tmp_path)).notes


def test_render_sql_shows_the_session_reset_after_every_migration(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "s",
        {
            "001_path.up.sql": "SET search_path = app;\nCREATE TABLE t (id int);\n",
            "002_plain.up.sql": "CREATE TABLE u (id int);\n",
            "003_index.up.sql": (
                "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY i ON u (id);\n"
            ),
        },
    )

    text = render_sql(plan_up(discover(directory), {}, _settings(tmp_path)))

    parts = text.split("\n-- up ")[1:]
    assert len(parts) == 3
    for part in parts:  # whether or not the migration looks like it changes the session
        assert part.count("-- session reset (as DISCARD ALL") == 1
    # inside the transaction: before the ledger write and COMMIT
    assert parts[0].index("session reset") < parts[0].index("-- ledger:") < parts[0].index("COMMIT")
