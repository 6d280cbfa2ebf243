"""Backfills under the hazards of a live database: NULLs in the key, a table lock held
by another session, a deadlock with an application transaction, and a file changed
before a resume."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from migrator.errors import MigrationFailed
from migrator.runner.backfill import MemoryProgress, run_backfill
from migrator.runner.retry import RetryPolicy
from migrator.source.backfill import backfill_of
from tests.plan.scenario import execute, fetch, run
from tests.runner.conftest import Project
from tests.runner.lock_holder import RetryLog, held_until_first_retry

FAST = RetryPolicy(retries=5, delay_ms=20, max_delay_ms=50)


def test_a_null_in_the_key_is_refused_instead_of_ending_the_walk_before_it_starts(
    database_url: str,
) -> None:
    # ORDER BY key DESC puts NULL first: the walk used to take NULL as the largest key,
    # call the table empty and report success with nothing filled
    spec = backfill_of(
        "table=n key=id batch-size=10",
        ["UPDATE n SET b = 1 WHERE id BETWEEN $1 AND $2 AND b IS NULL"],
    )

    async def scenario() -> None:
        await execute(
            database_url,
            "CREATE TABLE n (id int UNIQUE, b int);"
            "INSERT INTO n SELECT g, NULL FROM generate_series(1, 25) g;"
            "INSERT INTO n VALUES (NULL, NULL);",
        )
        conn = await asyncpg.connect(database_url)
        try:
            with pytest.raises(MigrationFailed, match=r'key "id" of "n" is NULL in 1 row'):
                await run_backfill(conn, spec, store=MemoryProgress())
            assert await fetch(database_url, "SELECT count(*) FROM n WHERE b IS NULL") == [(26,)]
            # a nullable key without NULLs is walked completely
            await conn.execute("DELETE FROM n WHERE id IS NULL")
            result = await run_backfill(conn, spec, store=MemoryProgress())
            assert (result.progress.rows_done, result.progress.rows_updated) == (25, 25)
        finally:
            await conn.close()

    run(scenario())


FILL_T = backfill_of(
    "table=t key=id batch-size=1000",
    ["UPDATE t SET b = 1 WHERE id BETWEEN $1 AND $2 AND b IS NULL"],
)
ROWS_T = (
    "CREATE TABLE t (id int PRIMARY KEY, b int);"
    "INSERT INTO t SELECT g, NULL FROM generate_series(1, 1000) g; ANALYZE t;"
)


def test_reading_the_next_batch_waits_at_most_the_lock_timeout_and_is_retried(
    database_url: str,
) -> None:
    # the reads (largest key, next batch) used to run outside the batch transaction,
    # with no lock_timeout: behind a table lock they waited for as long as it was held
    async def scenario() -> list[str]:
        await execute(database_url, ROWS_T)
        conn = await asyncpg.connect(database_url)
        try:
            hold = "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"
            async with held_until_first_retry(database_url, hold) as retries:
                result = await run_backfill(
                    conn,
                    FILL_T,
                    store=MemoryProgress(),
                    lock_timeout_ms=100,
                    retry=FAST,
                    on_retry=retries,
                )
            assert result.progress.rows_updated == 1000
        finally:
            await conn.close()
        return retries.reasons

    assert run(scenario())[0] == "lock timeout (100ms) at the start"


def test_a_batch_chosen_as_a_deadlock_victim_is_retried(database_url: str) -> None:
    retries = RetryLog()

    async def scenario() -> None:
        await execute(database_url, ROWS_T)
        app = await asyncpg.connect(database_url)
        conn = await asyncpg.connect(database_url)
        try:
            # the backfill looks for a deadlock first; the application much later
            await conn.execute("SET deadlock_timeout = '1s'")
            await app.execute("SET deadlock_timeout = '1min'")
            backfill_pid = conn.get_server_pid()
            transaction = app.transaction()
            await transaction.start()
            await app.execute("UPDATE t SET b = 7 WHERE id = 500")

            async def application() -> None:
                # once the batch waits for row 500 (holding rows 1..499), ask for row 10
                while not await app.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                    backfill_pid,
                ):
                    await asyncio.sleep(0.01)
                await app.execute("UPDATE t SET b = 7 WHERE id = 10")
                await transaction.commit()

            writer = asyncio.create_task(application())
            result = await run_backfill(
                conn,
                FILL_T,
                store=MemoryProgress(),
                lock_timeout_ms=30_000,
                retry=FAST,
                on_retry=retries,
            )
            await writer
            assert (result.progress.rows_done, result.progress.rows_updated) == (1000, 998)
        finally:
            await conn.close()
            await app.close()

    run(scenario())
    assert retries.reasons == ["deadlock at id 1..1000"]
    assert run(fetch(database_url, "SELECT b, count(*) FROM t GROUP BY b ORDER BY b")) == [
        (1, 998),
        (7, 2),
    ]


FAILING = {
    "001_t.up.sql": "CREATE TABLE t (id int PRIMARY KEY, a int, b int);\n"
    "INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 50) g;\n"
    "UPDATE t SET a = 0 WHERE id = 30;\n",
    "002_fill.up.sql": "-- migrate:phase backfill\n"
    "-- migrate:backfill table=t key=id batch-size=10\n"
    "UPDATE t SET b = 100 / a WHERE id BETWEEN $1 AND $2 AND b IS DISTINCT FROM 100 / a;\n",
}


def test_resuming_a_backfill_whose_file_changed_is_refused(project: Project) -> None:
    project.write(FAILING)
    failed = project.migrate("up")
    assert failed.code == 4 and "division by zero" in failed.stderr
    assert project.scalar("SELECT count(*) FROM t WHERE b IS NOT NULL") == 20

    # the rows before key 20 were filled by the old UPDATE: continuing with another one
    # would leave the table half one way, half the other
    project.write(
        {"002_fill.up.sql": FAILING["002_fill.up.sql"].replace("100 / a", "200 / nullif(a, 0)")}
    )
    refused = project.migrate("up", "--resume")
    assert refused.code == 4
    assert "002_fill.up.sql: it changed since the backfill started" in refused.stderr
    assert "repair 2 --forget" in refused.stderr
    assert [state for _, state, _ in project.ledger()] == ["applied", "failed"]
    assert project.scalar("SELECT count(*) FROM t WHERE b IS NOT NULL") == 20

    # the way out it names: forget the run, then the changed file walks the whole table
    assert project.migrate("repair", "2", "--forget", "--yes").code == 0
    assert project.migrate("up").code == 0
    assert project.scalar("SELECT count(*) FROM t WHERE b = 200 / nullif(a, 0)") == 49
