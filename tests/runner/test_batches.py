"""Consecutive one-statement transactional migrations travel several to a string
(migrator/runner/batch.py). These tests run plans on a real connection that counts
what it sends, and check that batching changes nothing a user can see: each migration
still commits on its own with its ledger row, a failure names its file and line and
leaves the migrations before it applied, a lock timeout is retried with backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from migrator.config import Settings
from migrator.db.ledger import Ledger
from migrator.errors import ConnectionFailed, LedgerConflict, MigrationFailed
from migrator.runner.batch import execute_plan
from migrator.runner.execute import StepResult
from migrator.runner.report import Reporter
from migrator.runner.retry import RetryPolicy
from migrator.runner.schedule import Step, plan_step
from migrator.source.discovery import discover
from tests.helpers_db import write_migrations
from tests.runner.conftest import Project
from tests.runner.test_round_trips import CountingConnection


def _tables(count: int, start: int = 1) -> dict[str, str]:
    files = {}
    for number in range(start, start + count):
        files[f"{number:03d}_t{number}.up.sql"] = f"CREATE TABLE t{number} (id int);\n"
        files[f"{number:03d}_t{number}.down.sql"] = f"DROP TABLE t{number};\n"
    return files


class Events(Reporter):
    def __init__(self) -> None:
        self.events: list[str] = []

    def step_finished(self, result: StepResult) -> None:
        self.events.append(f"{result.step.direction} {result.step.version}")

    def retrying(
        self, step: Step, *, attempt: int, attempts: int, delay_ms: int, reason: str
    ) -> None:
        self.events.append(f"retry {step.version} after attempt {attempt} of {attempts}")


def _plan(directory: Path, direction: str = "up", settings: Settings | None = None) -> list[Step]:
    settings = settings or Settings(migrations_dir=directory)
    migrations = discover(directory).migrations
    if direction == "down":
        migrations = tuple(reversed(migrations))
    return [plan_step(migration, direction, settings) for migration in migrations]  # type: ignore[arg-type]


def _execute(
    database_url: str,
    steps: list[Step],
    *,
    first_batch: int,
    retry: RetryPolicy | None = None,
    reporter: Reporter | None = None,
) -> tuple[list[str], list[StepResult] | BaseException]:
    """Run ``steps`` on a counting connection: the strings sent (after the ledger's
    own set-up) and the results, or the error raised."""

    async def run() -> tuple[list[str], list[StepResult] | BaseException]:
        conn = await asyncpg.connect(database_url, connection_class=CountingConnection)
        conn.sent = []
        ledger = Ledger()
        try:
            await ledger.ensure(conn)
            await ledger.prepare_writes(conn)
            conn.sent.clear()
            try:
                results: list[StepResult] | BaseException = await execute_plan(
                    conn,
                    steps,
                    ledger=ledger,
                    retry=retry or RetryPolicy(),
                    reporter=reporter,
                    first_batch=first_batch,
                )
            except (MigrationFailed, LedgerConflict) as exc:
                results = exc
            return conn.sent, results
        finally:
            await conn.close()

    return asyncio.run(run())


def test_one_statement_migrations_share_strings_and_each_commits_with_its_row(
    project: Project,
) -> None:
    project.write(_tables(6))
    reporter = Events()

    sent, results = _execute(
        project.database_url, _plan(project.directory), first_batch=4, reporter=reporter
    )

    assert not isinstance(results, BaseException)
    # a batch of 4, then (the size doubled, capped by what is left) one of 2
    batches = [text for text in sent if text.count("COMMIT") > 1]
    assert [text.count("BEGIN;") for text in batches] == [4, 2]
    assert [r.step.version for r in results] == [1, 2, 3, 4, 5, 6]
    assert all(r.duration_ms >= 0 and r.attempts == 1 for r in results)
    assert reporter.events == [f"up {n}" for n in range(1, 7)]
    assert {f"t{n}" for n in range(1, 7)} <= project.tables()
    assert project.ledger() == [(n, "applied", 1) for n in range(1, 7)]
    assert project.history() == [(n, "up") for n in range(1, 7)]
    # each migration was its own transaction: six distinct transaction ids
    xmins = project.query("SELECT DISTINCT xmin::text FROM migrator_ledger")
    assert len(xmins) == 6


def test_each_batched_migration_records_its_own_duration(project: Project) -> None:
    """The server measures each migration from its own ``BEGIN``: in a string, the
    transaction start time (``now()``) is when the string arrived, shared by all."""
    files = _tables(4)
    files["002_t2.up.sql"] = "SELECT pg_sleep(0.3);\n"
    project.write(files)
    reporter = Events()

    sent, results = _execute(
        project.database_url, _plan(project.directory), first_batch=4, reporter=reporter
    )

    assert not isinstance(results, BaseException)
    assert sent[0].count("BEGIN;") == 4  # all four in one string
    durations = {r.step.version: r.duration_ms for r in results}
    assert durations[2] >= 300
    assert durations[3] < 200 and durations[4] < 200, durations
    recorded = dict(
        project.query("SELECT version::int, duration_ms FROM migrator_ledger_history ORDER BY id")
    )
    assert recorded == durations


def test_batches_grow_from_one_while_they_are_fast(project: Project) -> None:
    project.write(_tables(7))

    sent, results = _execute(project.database_url, _plan(project.directory), first_batch=1)

    assert not isinstance(results, BaseException)
    sizes = [text.count("BEGIN;") for text in sent if text.startswith("BEGIN;")]
    assert sizes[0] == 1 and sum(sizes) == 7
    assert len(sizes) < 7  # fewer strings than migrations


def test_a_failure_inside_a_batch_keeps_the_ones_before_it_and_names_its_line(
    project: Project,
) -> None:
    files = _tables(5)
    files["003_t3.up.sql"] = "\n-- broken on purpose\nINSERT INTO t1 VALUES ('not a number');\n"
    project.write(files)
    reporter = Events()

    sent, outcome = _execute(
        project.database_url, _plan(project.directory), first_batch=5, reporter=reporter
    )

    assert isinstance(outcome, MigrationFailed)
    assert "003_t3.up.sql:3: applying 003_t3 failed" in str(outcome)
    assert "invalid input syntax for type integer" in str(outcome)
    assert sent[0].count("BEGIN;") == 5  # all five went in one string
    assert reporter.events == ["up 1", "up 2"]
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 1)]
    assert project.history() == [(1, "up"), (2, "up"), (3, "failure")]
    assert "t4" not in project.tables() and "t5" not in project.tables()


def test_a_batch_reverts_newest_first(project: Project) -> None:
    project.write(_tables(4))
    _, applied = _execute(project.database_url, _plan(project.directory), first_batch=4)
    assert not isinstance(applied, BaseException)

    sent, results = _execute(project.database_url, _plan(project.directory, "down"), first_batch=4)

    assert not isinstance(results, BaseException)
    assert [r.step.version for r in results] == [4, 3, 2, 1]
    assert sent[0].count("EXECUTE migrator_reverted_") == 4
    assert project.ledger() == []
    assert project.tables() == {"migrator_ledger", "migrator_ledger_history"}
    assert project.history()[-4:] == [(4, "down"), (3, "down"), (2, "down"), (1, "down")]


def test_a_lock_timeout_in_a_batch_is_retried_alone_with_backoff(project: Project) -> None:
    files: Mapping[str, str] = {
        **_tables(2),
        "003_alter.up.sql": "ALTER TABLE held ADD COLUMN extra int;\n",
        "003_alter.down.sql": "ALTER TABLE held DROP COLUMN extra;\n",
        **_tables(1, start=4),
    }
    project.write(files)
    project.query("CREATE TABLE held (id int)")
    settings = Settings(migrations_dir=project.directory, lock_timeout=100)
    retry = RetryPolicy(retries=20, delay_ms=50, max_delay_ms=100)
    reporter = Events()

    async def hold_then_run() -> tuple[list[str], Any]:
        holder = await asyncpg.connect(project.database_url)
        try:
            await holder.execute("BEGIN; LOCK TABLE held IN ACCESS SHARE MODE")

            async def release() -> None:
                await asyncio.sleep(0.6)
                await holder.execute("COMMIT")

            releasing = asyncio.create_task(release())
            outcome = await asyncio.to_thread(
                _execute,
                project.database_url,
                _plan(project.directory, settings=settings),
                first_batch=4,
                retry=retry,
                reporter=reporter,
            )
            await releasing
            return outcome
        finally:
            await holder.close()

    sent, results = asyncio.run(hold_then_run())

    assert not isinstance(results, BaseException), results
    assert [r.step.version for r in results] == [1, 2, 3, 4]
    altered = next(r for r in results if r.step.version == 3)
    assert altered.attempts >= 2
    assert sent[0].count("BEGIN;") == 4  # the first try was in the batch
    retries = [e for e in reporter.events if e.startswith("retry")]
    assert retries[0] == "retry 3 after attempt 1 of 21"
    assert project.ledger() == [(n, "applied", 1) for n in range(1, 5)]
    assert project.history() == [(n, "up") for n in range(1, 5)]


@pytest.mark.parametrize("first_batch", [1, 2, 4])
def test_a_batched_migration_that_drops_the_prepared_writes_still_applies(
    project: Project, first_batch: int
) -> None:
    project.write(
        {
            **_tables(2),
            "003_forget.up.sql": "DEALLOCATE ALL;\n",
            "003_forget.down.sql": "SELECT 1;\n",
            **_tables(2, start=4),
        }
    )

    _, results = _execute(project.database_url, _plan(project.directory), first_batch=first_batch)

    assert not isinstance(results, BaseException), results
    assert [r.step.version for r in results] == [1, 2, 3, 4, 5]
    assert project.history() == [(n, "up") for n in range(1, 6)]


def test_migrate_up_applies_many_small_migrations_through_the_cli(project: Project) -> None:
    project.write(_tables(40))

    result = project.migrate("up")

    assert result.code == 0, result.output
    assert [
        line.split()[1] for line in result.stderr.splitlines() if line.startswith("applied")
    ] == [f"{n:03d}_t{n}" for n in range(1, 41)]
    assert project.ledger() == [(n, "applied", 1) for n in range(1, 41)]
    assert project.migrate("down", "--to", "0").code == 0
    assert project.tables() == {"migrator_ledger", "migrator_ledger_history"}


def test_a_connection_lost_inside_a_batch_keeps_what_committed(project: Project) -> None:
    project.write(
        {
            **_tables(2),
            "003_cut.up.sql": "SELECT pg_terminate_backend(pg_backend_pid());\n",
            "003_cut.down.sql": "SELECT 1;\n",
            **_tables(1, start=4),
        }
    )

    async def run() -> ConnectionFailed:
        conn = await asyncpg.connect(project.database_url)
        ledger = Ledger()
        try:
            await ledger.ensure(conn)
            with pytest.raises(ConnectionFailed) as raised:
                await execute_plan(
                    conn,
                    _plan(project.directory),
                    ledger=ledger,
                    retry=RetryPolicy(),
                    first_batch=4,
                )
            return raised.value
        finally:
            conn.terminate()

    error = asyncio.run(run())

    assert "lost the connection while applying migrations 001_t1 to 004_t4" in str(error)
    assert "`migrate status` shows which are done" in (error.hint or "")
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 1)]
    assert "t4" not in project.tables()


def test_a_statement_left_prepared_stops_the_string_before_the_next_migration(
    project: Project,
) -> None:
    """Within a string, only the last migration's reset drops prepared statements;
    the others are followed by the ledger's check, which stops the string before the
    next migration ran anything. That one then runs alone after a full reset: once
    (its ``nextval``, which no rollback undoes, ran once) and in a fresh session."""
    files = _tables(6)
    files["001_t1.up.sql"] = "CREATE SEQUENCE s4;\n"
    files["003_t3.up.sql"] = "PREPARE left_behind AS SELECT 3;\n"
    files["004_t4.up.sql"] = (
        "CREATE TABLE t4 AS SELECT nextval('s4') AS n, (SELECT count(*) FROM "
        "pg_prepared_statements WHERE name = 'left_behind') AS prepared;\n"
    )
    project.write(files)

    sent, results = _execute(project.database_url, _plan(project.directory), first_batch=6)

    assert not isinstance(results, BaseException), results
    assert [r.step.version for r in results] == [1, 2, 3, 4, 5, 6]
    assert project.history() == [(n, "up") for n in range(1, 7)]
    assert project.query("SELECT n, prepared FROM t4") == [(1, 0)]
    assert project.scalar("SELECT last_value FROM s4") == 1
    ledger = Ledger()
    first = sent[0]
    assert first.count("BEGIN;") == 6
    # every migration but the first starts with the check; one reset drops statements
    assert first.count(ledger.check_sql) == 5
    assert first.count("DO $migrator_reset$") == 1
    assert first.rindex("DO $migrator_reset$") > first.rindex("BEGIN;")


@pytest.mark.parametrize("seed", range(6))
def test_random_plans_end_exactly_as_one_at_a_time(project: Project, seed: int) -> None:
    """Random runs of one-statement migrations, some failing, batched from a random
    size: the same migrations end applied, the same one fails with the same message,
    and the ledger and history say the same, as when each runs alone."""
    rng = random.Random(seed)
    count = rng.randint(2, 14)
    failing = rng.randint(1, count + 3)  # beyond ``count``: nothing fails
    outcomes = []
    for first_batch in (1, rng.randint(2, 8)):
        directory = project.directory / f"run{first_batch}"
        files = {}
        for number in range(1, count + 1):
            table = f"r{seed}_{first_batch}_{number}"
            body = f"CREATE TABLE {table} (id int)"
            if rng.random() < 0.3:  # the next one may not see it: it prepares it again
                body = f"PREPARE shared AS SELECT {number}"
            if number == failing:
                body = f"INSERT INTO nowhere_{number} VALUES (1)"
            files[f"{number:03d}_m{number}.up.sql"] = body + ";\n"
        write_migrations(directory, files)
        schema = f"ledger_{seed}_{first_batch}"
        settings = Settings(migrations_dir=directory, ledger_schema=schema)

        async def run(
            steps: list[Step],
            schema: str = schema,
            size: int = first_batch,
            where: Path = directory,
        ) -> tuple[str, list[Any]]:
            conn = await asyncpg.connect(project.database_url)
            ledger = Ledger(schema)
            try:
                await ledger.ensure(conn)
                try:
                    await execute_plan(
                        conn, steps, ledger=ledger, retry=RetryPolicy(), first_batch=size
                    )
                    message = "ok"
                except MigrationFailed as exc:
                    message = str(exc).replace(str(where), "DIR")
                rows = await conn.fetch(
                    f'SELECT version, action FROM "{schema}".migrator_ledger_history ORDER BY id'
                )
                return message, [(int(r[0]), r[1]) for r in rows]
            finally:
                await conn.close()

        outcomes.append(asyncio.run(run(_plan(directory, settings=settings))))

    (alone, batched) = outcomes
    assert batched == alone
    expected_ups = [(n, "up") for n in range(1, min(failing, count + 1))]
    assert alone[1][: len(expected_ups)] == expected_ups
    if failing <= count:
        assert f"DIR/{failing:03d}_m{failing}.up.sql:1: applying" in alone[0]
        assert alone[1][-1] == (failing, "failure")


@pytest.mark.parametrize("kind", ["up", "repeatable", "down"])
def test_a_ledger_write_inside_a_batch_never_records_a_migration_twice(
    project: Project, kind: str
) -> None:
    """The migration lock is checked before each string of batched migrations, not
    before each ledger write inside it. That is safe because every ledger write of a
    transactional migration, inside its transaction, refuses to record what is
    already recorded (a plain INSERT on the version's key; a repeatable's replaced
    row only for another checksum; a revert only of a row still there): had another
    runner (after the lock was lost) recorded the migration meanwhile, the write fails
    and the migration rolls back with it. Here the same migration stands twice in one
    string, so its second run finds its own record: it must run once."""
    if kind == "repeatable":  # Flyway: R__ runs again only when its checksum changed
        files = {
            "V1__hits.sql": "CREATE TABLE hits (n int);\n",
            "R__hit.sql": "INSERT INTO hits VALUES (9);\n",
        }
    else:
        files = {
            "001_hits.up.sql": "CREATE TABLE hits (n int);\n",
            "001_hits.down.sql": "DROP TABLE hits;\n",
            "002_hit.up.sql": "INSERT INTO hits VALUES (9);\n",
            "002_hit.down.sql": "INSERT INTO hits VALUES (-9);\n",
        }
    project.write(files)
    assert project.migrate("up", "--to", "2" if kind == "down" else "1").code == 0
    planned = _plan(project.directory, "down" if kind == "down" else "up")
    step = next(s for s in planned if s.migration.name == "hit")

    sent, outcome = _execute(project.database_url, [step, step], first_batch=2)

    assert [text.count("COMMIT") for text in sent if "COMMIT" in text] == [2]  # one string
    assert isinstance(outcome, LedgerConflict), outcome
    assert "already" in str(outcome) and "did not run twice" in str(outcome)
    expected = [9, -9] if kind == "down" else [9]
    assert sorted(project.query("SELECT n FROM hits")) == sorted((n,) for n in expected)
    actions = [action for version, action in project.history() if version == step.version]
    assert actions.count("down" if kind == "down" else "up") == 1
