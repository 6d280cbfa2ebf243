"""``migrate up --phase`` and the contract-after-backfill rule: in memory, and end to end."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from migrator.config import Settings
from migrator.db.records import LedgerEntry
from migrator.errors import RefusedState, SourceError
from migrator.runner.schedule import plan_up, render_sql
from migrator.source import discover
from tests.helpers import run_cli
from tests.helpers_db import write_migrations

BACKFILL = (
    "-- migrate:phase backfill\n"
    "-- migrate:backfill table=public.items key=id batch-size=2 pause=0ms\n"
    "UPDATE public.items SET code = 'c' || id WHERE id BETWEEN $1 AND $2 AND code IS NULL;\n"
)
PHASED = {
    "001_items.up.sql": "CREATE TABLE items (id bigint PRIMARY KEY);\n"
    "INSERT INTO items SELECT generate_series(1, 5);\n",
    "001_items.down.sql": "DROP TABLE items;\n",
    "002_expand.up.sql": "-- migrate:phase expand\nALTER TABLE items ADD COLUMN code text;\n",
    "002_expand.down.sql": "ALTER TABLE items DROP COLUMN code;\n",
    "003_backfill.sql": BACKFILL,
    "004_contract.up.sql": "-- migrate:phase contract\n"
    "ALTER TABLE items ADD CONSTRAINT items_code_nn CHECK (code IS NOT NULL);\n",
    "004_contract.down.sql": "ALTER TABLE items DROP CONSTRAINT items_code_nn;\n",
}


def _applied(*versions: int) -> dict[int, LedgerEntry]:
    from tests.runner.test_schedule import _entry

    return {version: _entry(version) for version in versions}


@pytest.fixture
def phased(tmp_path: Path) -> Path:
    return write_migrations(tmp_path / "m", PHASED)


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("expand", [1, 2]), ("backfill", [1, 2, 3]), ("contract", [1, 2, 3, 4]), (None, [1, 2, 3, 4])],
)
def test_phase_stops_before_the_first_migration_of_a_later_phase(
    phased: Path, phase: str | None, expected: list[int]
) -> None:
    plan = plan_up(discover(phased), {}, Settings(migrations_dir=phased), phase=phase)  # type: ignore[arg-type]
    assert [step.version for step in plan.steps] == expected


def test_an_interrupted_backfill_blocks_everything_until_resumed_then_contract_follows(
    phased: Path,
) -> None:
    from tests.runner.test_schedule import _entry

    migrations = discover(phased)
    checksum = migrations.by_version()[3].up.checksum
    entries = {
        **_applied(1, 2),
        3: _entry(3, state="partial", transactional=False, up_checksum=checksum),
    }
    with pytest.raises(RefusedState, match="003_backfill"):
        plan_up(migrations, entries, Settings(migrations_dir=phased))
    resumed = plan_up(migrations, entries, Settings(migrations_dir=phased), resume=True)
    assert [step.version for step in resumed.steps] == [3, 4]
    only_backfill = plan_up(
        migrations, entries, Settings(migrations_dir=phased), resume=True, phase="backfill"
    )
    assert [step.version for step in only_backfill.steps] == [3]


def test_a_wrong_backfill_directive_is_refused_before_anything_runs(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_fill.sql": "-- migrate:backfill table=public.t key=id batch-size=many\n"
            "UPDATE public.t SET c = 1 WHERE id BETWEEN $1 AND $2 AND c IS NULL;\n",
        },
    )
    with pytest.raises(SourceError, match=r"001_fill.sql:1: .*batch-size"):
        plan_up(discover(directory), {}, Settings(migrations_dir=directory))


def test_sql_preview_says_a_backfill_runs_in_batches(phased: Path) -> None:
    text = render_sql(plan_up(discover(phased), _applied(1, 2), Settings(migrations_dir=phased)))
    assert "runs in batches" in text


async def _codes(url: str) -> list[str | None]:
    connection = await asyncpg.connect(url)
    try:
        columns = await connection.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' "
            "AND column_name = 'code'"
        )
        if not columns:
            return []
        return [row[0] for row in await connection.fetch("SELECT code FROM items ORDER BY id")]
    finally:
        await connection.close()


def test_up_phase_by_phase_end_to_end(phased: Path, database_url: str, tmp_path: Path) -> None:
    import asyncio

    base = ("--dir", str(phased), "--database-url", database_url)
    expand = run_cli(*base, "up", "--phase", "expand", cwd=tmp_path)
    assert expand.code == 0, expand.output
    assert asyncio.run(_codes(database_url)) == [None] * 5

    status = run_cli(*base, "status", "--format", "json", cwd=tmp_path)
    assert '"phase": "backfill"' in status.stdout and '"phase": "contract"' in status.stdout

    backfill = run_cli(*base, "up", "--phase", "backfill", cwd=tmp_path)
    assert backfill.code == 0, backfill.output
    assert asyncio.run(_codes(database_url)) == ["c1", "c2", "c3", "c4", "c5"]

    contract = run_cli(*base, "up", cwd=tmp_path)
    assert contract.code == 0, contract.output
    assert "004_contract" in contract.output


def test_failed_backfill_is_refused_then_resumed_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    import asyncio

    directory = write_migrations(
        tmp_path / "m",
        {
            "001_t.sql": "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b int);\n"
            "INSERT INTO t SELECT g, g FROM generate_series(1, 50) g;\n"
            "UPDATE t SET a = 0 WHERE id = 30;\n",
            "002_fill.sql": "-- migrate:phase backfill\n"
            "-- migrate:backfill table=t key=id batch-size=10 pause=0ms\n"
            "UPDATE t SET b = 100 / a WHERE id BETWEEN $1 AND $2 AND b IS NULL;\n",
        },
    )
    base = ("--dir", str(directory), "--database-url", database_url)
    failed = run_cli(*base, "up", cwd=tmp_path)
    assert failed.code == 4, failed.output
    assert "division by zero" in failed.stderr

    refused = run_cli(*base, "up", cwd=tmp_path)
    assert refused.code == 4 and "--resume" in refused.stderr
    # how far the backfill got, in rows, not "statement 1 of 1 with 0 statement(s) done"
    assert "its backfill stopped after 20 row(s) in 2 batch(es), last key 20" in refused.stderr
    table = run_cli(*base, "status", cwd=tmp_path)
    assert "failed (backfill: 20 row(s) in 2 batch(es), last key 20)" in table.stdout

    async def fix_and_count() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            filled = await connection.fetchval("SELECT count(*) FROM t WHERE b IS NOT NULL")
            await connection.execute("UPDATE t SET a = 1 WHERE id = 30")
            return int(filled)
        finally:
            await connection.close()

    assert asyncio.run(fix_and_count()) == 20  # two batches committed before the failure
    resumed = run_cli(*base, "up", "--resume", cwd=tmp_path)
    assert resumed.code == 0, resumed.output
    status = run_cli(*base, "status", "--format", "json", cwd=tmp_path)
    assert '"state": "failed"' not in status.stdout and '"state": "partial"' not in status.stdout
