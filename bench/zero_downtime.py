"""Zero-downtime load test: what clients feel while a schema change runs, naive SQL
against the plan ``migrate plan`` writes (expand-contract.md, "How zero downtime is
measured").

For each case, a fresh copy of a seeded database (``--rows`` rows with a primary key,
an index and a foreign key) takes concurrent asyncpg clients reading, updating and
inserting throughout, while a saboteur transaction holds a plain read lock (ACCESS
SHARE) for ``--saboteur`` seconds at the start of every phase, so a migration that
waits for ACCESS EXCLUSIVE queues every client behind it. The naive SQL runs as a
plain SQL-file runner would send it; the plan runs through migrator's runner (batched
backfill, lock_timeout with retries). Per run: client errors by SQLSTATE, the longest
single statement (the stall), p99 latency against a baseline run with no migration,
data parity and leftovers (INVALID index, trigger, function, temporary column).

    python -m bench.zero_downtime                  # 1,000,000 rows, every case
    python -m bench.zero_downtime --rows 100000 --cases create-index,rename-column

Loads go only to a throwaway server on 127.0.0.1; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.report import machine_facts, table
from migrator.config import Settings
from migrator.ephemeral import EphemeralServer
from migrator.plan.planner import plan_file, write_plan
from migrator.plan.recipes.target import PlanOptions
from migrator.runner.execute import apply_migration
from migrator.source import discover

SCHEMA = """
CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE items (
    id serial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    owner_id bigint,
    email text NOT NULL,
    qty int NOT NULL DEFAULT 0,
    note text NOT NULL
);
CREATE INDEX items_email_idx ON items (email);
"""
ACCOUNTS = 10_000
#: the longest any one run may take before it is stopped (seconds)
RUN_LIMIT_S = 900


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    naive: str
    #: the column clients read and write as ``note`` before and after the deploy
    renamed_to: str | None = None


CASES = (
    Case(
        "add-not-null-volatile",
        "add NOT NULL column, volatile default",
        "ALTER TABLE items ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()",
    ),
    Case(
        "int-to-bigint",
        "change int to bigint (primary key)",
        "ALTER TABLE items ALTER COLUMN id TYPE bigint",
    ),
    Case(
        "add-foreign-key",
        "add foreign key",
        "ALTER TABLE items ADD FOREIGN KEY (owner_id) REFERENCES accounts (id)",
    ),
    Case("create-index", "create index", "CREATE INDEX items_qty_idx ON items (qty)"),
    Case(
        "rename-column",
        "rename column",
        "ALTER TABLE items RENAME COLUMN note TO remark",
        renamed_to="remark",
    ),
)


@dataclass
class Load:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    inserted: int = 0
    #: the column name clients use for ``note`` (switched by the deploy of a rename)
    note_column: str = "note"

    def p99_ms(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    def stall_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000


@dataclass(frozen=True)
class RunResult:
    case: str
    mode: str
    load: Load
    duration_s: float
    parity: str
    leftovers: list[str]
    migration_error: str = ""


async def _client(dsn: str, rows: int, load: Load, stop: asyncio.Event, seed: int) -> None:
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            column = load.note_column
            key = rng.randint(1, rows)
            roll = rng.random()
            began = time.perf_counter()
            try:
                if roll < 0.6:
                    await conn.fetchrow(f"SELECT id, email, {column} FROM items WHERE id = $1", key)
                elif roll < 0.85:
                    await conn.execute(
                        f"UPDATE items SET qty = qty + 1, {column} = $2 WHERE id = $1",
                        key,
                        f"note {key} {rng.random():.6f}",
                    )
                else:
                    await conn.execute(
                        f"INSERT INTO items (account_id, owner_id, email, {column}) "
                        "VALUES ($1, $1, $2, $3)",
                        rng.randint(1, ACCOUNTS),
                        f"new{rng.random()}@example.com",
                        "fresh note",
                    )
                    load.inserted += 1
            except asyncpg.PostgresError as exc:
                load.errors[exc.sqlstate or "?"] += 1
            except asyncpg.InterfaceError as exc:
                load.errors[type(exc).__name__] += 1
            load.latencies.append(time.perf_counter() - began)
    finally:
        await conn.close()


async def _saboteur(dsn: str, seconds: float) -> None:
    """A transaction holding ACCESS SHARE on items (a long report, a stuck session)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE items IN ACCESS SHARE MODE")
            await asyncio.sleep(seconds)
    finally:
        await conn.close()


async def _with_saboteur(dsn: str, seconds: float) -> asyncio.Task[None]:
    task = asyncio.create_task(_saboteur(dsn, seconds))
    await asyncio.sleep(0.3)  # the saboteur holds its lock before the migration asks
    return task


LEFTOVERS = """
SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'migrator%'
UNION ALL SELECT 'column ' || attname FROM pg_attribute
  WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped AND attname LIKE '%\\_new'
UNION ALL SELECT 'invalid index ' || indexrelid::regclass FROM pg_index WHERE NOT indisvalid
UNION ALL SELECT 'constraint ' || conname FROM pg_constraint
  WHERE conname LIKE 'migrator%' AND conrelid = 'items'::regclass
"""


async def _check(dsn: str, case: Case, rows: int, load: Load) -> tuple[str, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        count = await conn.fetchval("SELECT count(*) FROM items")
        expected = rows + load.inserted
        parity = "ok" if count == expected else f"{count:,} rows, expected {expected:,}"
        if case.id == "add-not-null-volatile":
            missing = await conn.fetchval("SELECT count(*) FROM items WHERE token IS NULL")
            parity += "" if missing == 0 else f"; {missing} rows without token"
        if case.renamed_to:
            empty = await conn.fetchval(
                f"SELECT count(*) FROM items WHERE {case.renamed_to} IS NULL"
            )
            parity += "" if empty == 0 else f"; {empty} rows lost their value"
        leftovers = [row[0] for row in await conn.fetch(LEFTOVERS)]
        return parity, leftovers
    finally:
        await conn.close()


async def _seed(admin_dsn: str, template_dsn: str, rows: int) -> None:
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute("CREATE DATABASE zd_template")
    await admin.close()
    conn = await asyncpg.connect(template_dsn)
    try:
        await conn.execute(SCHEMA)
        await conn.execute(
            f"INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, {ACCOUNTS}) g"
        )
        await conn.execute(
            "INSERT INTO items (account_id, owner_id, email, qty, note) "
            f"SELECT 1 + g % {ACCOUNTS}, 1 + g % {ACCOUNTS}, 'user' || g || '@example.com', "
            f"g % 100, 'note ' || g FROM generate_series(1, {rows}) g"
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _fresh(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE zd_template')
    finally:
        await admin.close()


def _plan(case: Case, workdir: Path, lock_timeout_ms: int, batch_size: int) -> Path:
    directory = workdir / case.id / "migrations"
    directory.mkdir(parents=True)
    (directory / "001_schema.up.sql").write_text(SCHEMA)
    change = workdir / case.id / f"{case.id.replace('-', '_')}.sql"
    change.write_text(case.naive + ";\n")
    result = plan_file(
        change,
        directory,
        lock_timeout_ms=lock_timeout_ms,
        options=PlanOptions(batch_size=batch_size, pause_ms=5),
    )
    write_plan(result)
    return directory


async def _run(
    server: EphemeralServer,
    case: Case | None,
    mode: str,
    args: argparse.Namespace,
    workdir: Path,
) -> RunResult:
    name = f"zd_{mode}_{case.id if case else 'baseline'}".replace("-", "_")
    await _fresh(server.dsn(), name)
    dsn = server.dsn(name)
    load = Load()
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(_client(dsn, args.rows, load, stop, seed))
        for seed in range(args.clients)
    ]
    await asyncio.sleep(1.0)
    began = time.perf_counter()
    error = ""
    try:
        if case is None:
            await asyncio.sleep(args.baseline_seconds)
        elif mode == "naive":
            saboteur = await _with_saboteur(dsn, args.saboteur)
            conn = await asyncpg.connect(dsn)
            try:
                await asyncio.wait_for(conn.execute(case.naive), RUN_LIMIT_S)
                if case.renamed_to:
                    load.note_column = case.renamed_to  # the new code ships after the rename
            finally:
                await conn.close()
            await saboteur
        else:
            error = await _apply_plan(dsn, case, args, workdir, load)
    except Exception as exc:  # a failed migration is a result, not a crash
        error = f"{type(exc).__name__}: {exc}"
    duration = time.perf_counter() - began
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*clients)
    parity, leftovers = "-", []
    if case is not None:
        try:
            parity, leftovers = await _check(dsn, case, args.rows, load)
        except asyncpg.PostgresError as exc:
            parity = f"cannot check: {exc}"
    if error:
        print(f"zero_downtime: {mode} {case.id if case else ''} failed: {error}", file=sys.stderr)
    return RunResult(
        case.id if case else "baseline", mode, load, duration, parity, leftovers, error
    )


async def _apply_plan(
    dsn: str, case: Case, args: argparse.Namespace, workdir: Path, load: Load
) -> str:
    directory = _plan(case, workdir, args.lock_timeout_ms, args.batch_size)
    settings = Settings(
        migrations_dir=directory,
        lock_timeout=args.lock_timeout_ms,
        lock_retries=40,
        retry_delay=200,
        retry_max_delay=1000,
    )
    conn = await asyncpg.connect(dsn)
    try:
        migrations = [m for m in discover(directory).migrations if m.version > 1]
        current_phase = None
        saboteur: asyncio.Task[None] | None = None
        for migration in migrations:
            if migration.phase != current_phase:
                if saboteur is not None:
                    await saboteur
                current_phase = migration.phase
                if current_phase == "contract" and case.renamed_to:
                    load.note_column = case.renamed_to  # the deploy between the phases
                saboteur = await _with_saboteur(dsn, args.saboteur)
            await asyncio.wait_for(apply_migration(conn, migration, settings=settings), RUN_LIMIT_S)
        if saboteur is not None:
            await saboteur
    finally:
        await conn.close()
    return ""


def _row(result: RunResult, baseline: RunResult) -> list[str]:
    load = result.load
    errors = sum(load.errors.values())
    kinds = ", ".join(f"{code} x{n}" for code, n in load.errors.most_common(3))
    ratio = load.p99_ms() / baseline.load.p99_ms() if baseline.load.p99_ms() else 0.0
    problems = result.migration_error or (
        "; ".join(result.leftovers) if result.leftovers else "none"
    )
    return [
        f"{result.case} ({result.mode})",
        f"{errors}" + (f" ({kinds})" if kinds else ""),
        f"{load.stall_ms():,.0f}",
        f"{load.p99_ms():,.1f} ({ratio:.1f}x)",
        f"{len(load.latencies):,}",
        f"{result.duration_s:,.1f}",
        result.parity,
        problems,
    ]


async def measure(args: argparse.Namespace) -> tuple[RunResult, list[RunResult]]:
    selected = [c for c in CASES if not args.cases or c.id in args.cases]
    with EphemeralServer() as server, tempfile.TemporaryDirectory() as tmp:
        await _seed(server.dsn(), server.dsn("zd_template"), args.rows)
        baseline = await _run(server, None, "baseline", args, Path(tmp))
        results = []
        for case in selected:
            for mode in ("naive", "plan"):
                results.append(await _run(server, case, mode, args, Path(tmp)))
                print(f"zero_downtime: {case.id} {mode} done", file=sys.stderr, flush=True)
        return baseline, results


def report(args: argparse.Namespace, baseline: RunResult, results: list[RunResult]) -> str:
    header = [
        "case",
        "client errors",
        "longest stall (ms)",
        "p99 ms (vs baseline)",
        "statements",
        "migration (s)",
        "data parity",
        "leftovers / migration error",
    ]
    rows = [_row(baseline, baseline)] + [_row(r, baseline) for r in results]
    facts = ", ".join(f"{k} {v}" for k, v in machine_facts()[:3])
    return (
        f"{args.rows:,} rows in `items` (primary key, an index, a foreign key), "
        f"{args.clients} asyncpg clients (60% reads by key, 25% updates, 15% inserts), "
        f"a saboteur holding ACCESS SHARE for {args.saboteur:g} s at the start of each phase; "
        f"plan: lock_timeout {args.lock_timeout_ms} ms with retries, backfill batches of "
        f"{args.batch_size:,}. Machine: {facts}.\n\n"
        + table(header, rows, numeric=False)
        + "\n\nThe stall is the longest single client statement; a naive run's stall is the "
        "saboteur plus the rewrite it queued every client behind. Naive `rename column` "
        "errors are the clients still using the old name (42703): the breaking change the "
        "plan avoids with its sync trigger.\n"
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--saboteur", type=float, default=4.0, help="seconds")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--lock-timeout-ms", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--cases", type=lambda s: [c for c in s.split(",") if c], default=[])
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: Sequence[str] | None = None) -> str:
    """Run the load test and return (and print) its markdown section."""
    args = parse(argv)
    baseline, results = asyncio.run(measure(args))
    text = report(args, baseline, results)
    print(text)
    return text


if __name__ == "__main__":
    main()
