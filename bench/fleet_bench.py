"""Fleet throughput: 10 migrations (one ``CREATE INDEX CONCURRENTLY``) on N databases,
``migrate up --targets`` against a shell loop of dbmate over the same kind of databases.

One ephemeral PostgreSQL; each contender gets its own N fresh databases per run. The
shell loop is what teams write today (``for url in ...; do dbmate up; done``); dbmate
has no fleet mode. Whole-process wall time, and the peak RSS of migrate's process
(``wait4``), which should not grow with N (targets run ``--concurrency`` at a time).
A run counts only if every database then has all 10 migrations applied.

    python -m bench.fleet_bench --sizes 50,200,500 --concurrency 8
    python -m bench.fleet_bench --sweep 1,4,8,16 --sweep-n 200   # time against concurrency
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import peers
from bench.report import factor, machine_facts, table
from migrator.ephemeral import EphemeralServer

#: (name, up SQL, runs in a transaction)
MIGRATIONS: tuple[tuple[str, str, bool], ...] = (
    (
        "accounts",
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, "
        "created_at timestamptz NOT NULL DEFAULT now());",
        True,
    ),
    (
        "seed_accounts",
        "INSERT INTO accounts (id, email) SELECT g, 'user' || g || '@example.com' "
        "FROM generate_series(1, 2000) g;",
        True,
    ),
    (
        "orders",
        "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL "
        "REFERENCES accounts (id), total numeric(12, 2) NOT NULL DEFAULT 0);",
        True,
    ),
    ("account_name", "ALTER TABLE accounts ADD COLUMN name text;", True),
    (
        "accounts_email_idx",
        "CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);",
        False,
    ),
    (
        "order_totals",
        "CREATE VIEW order_totals AS SELECT account_id, sum(total) AS total "
        "FROM orders GROUP BY account_id;",
        True,
    ),
    (
        "touch_function",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;",
        True,
    ),
    (
        "orders_total_check",
        "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);",
        True,
    ),
    ("comments", "COMMENT ON TABLE accounts IS 'one row per customer account';", True),
    (
        "audit",
        "CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "at timestamptz, what text);",
        True,
    ),
)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float | None
    #: CPU seconds of the client process and its children (the dbmate processes of a loop)
    client_cpu: float = 0.0
    #: CPU seconds the server spent meanwhile (every backend, and the server's own workers)
    server_cpu: float = 0.0

    @property
    def cpu_floor(self) -> float:
        """The shortest wall time this much CPU allows on this machine's cores."""
        return (self.client_cpu + self.server_cpu) / (os.cpu_count() or 1)


def _stat_times(pid: int) -> tuple[float, float, int]:
    """(own CPU, CPU of waited-for children, parent pid) of ``pid`` from /proc, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    return own, children, int(fields[1])


def server_cpu(server: EphemeralServer) -> float:
    """CPU seconds used so far by the server: the postmaster, its exited children
    (backends end with their connections) and the ones alive now."""
    assert server.data_dir is not None
    postmaster = int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])
    own, exited, _ = _stat_times(postmaster)
    alive = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cpu, _, parent = _stat_times(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:
            alive += cpu
    return own + exited + alive


def _write_migrator(directory: Path) -> None:
    for index, (name, sql, transactional) in enumerate(MIGRATIONS, start=1):
        header = "" if transactional else "-- migrate:no-transaction\n"
        (directory / f"{index:03d}_{name}.up.sql").write_text(header + sql + "\n")


def _write_dbmate(directory: Path) -> None:
    for index, (name, sql, transactional) in enumerate(MIGRATIONS, start=1):
        marker = "-- migrate:up" if transactional else "-- migrate:up transaction:false"
        (directory / f"{index:03d}_{name}.sql").write_text(f"{marker}\n{sql}\n\n-- migrate:down\n")


def _timed(argv: list[str], env: dict[str, str], server: EphemeralServer) -> Run:
    """Run ``argv`` to the end; its wall time, peak RSS and CPU (from ``wait4``), and
    the server's CPU meanwhile."""
    server_before = server_cpu(server)
    start = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {process.returncode}: {stderr[-2000:]}")
    return Run(
        elapsed,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        server_cpu(server) - server_before,
    )


def _env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key != "DATABASE_URL" and not key.startswith(("PG", "MIGRATOR_"))
    }


class Fleet:
    """N databases on the bench server, made fresh and dropped after each run."""

    def __init__(self, server: EphemeralServer, prefix: str, count: int) -> None:
        self.server = server
        self.names = [f"{prefix}_{i:04d}" for i in range(count)]

    def _psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` (statements one per line, each on its own) through psql."""
        assert self.server.bin_dir is not None
        done = subprocess.run(
            [
                str(self.server.bin_dir / "psql"),
                "-X",
                "-qtA",
                "-v",
                "ON_ERROR_STOP=1",
                "--dbname",
                self.server.dsn(database),
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def create(self) -> None:
        self._psql("".join(f'CREATE DATABASE "{name}";\n' for name in self.names))

    def drop(self) -> None:
        self._psql(
            "".join(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\n' for name in self.names)
        )

    def applied(self, table_sql: str) -> set[str]:
        return {self._psql(table_sql, name) for name in self.names}


def _run_migrator(fleet: Fleet, directory: Path, concurrency: int, work: Path) -> Run:
    targets = work / "fleet.toml"
    targets.write_text(
        "".join(
            f'[[target]]\nname = "{name}"\nurl = "{fleet.server.dsn(name)}"\n\n'
            for name in fleet.names
        )
    )
    me = peers.migrator()
    argv = [
        *me.command,
        "--dir",
        str(directory),
        "up",
        "--targets",
        str(targets),
        "--concurrency",
        str(concurrency),
    ]
    return _timed(argv, _env(), fleet.server)


def _run_dbmate_loop(fleet: Fleet, directory: Path, tool: peers.Tool, work: Path) -> Run:
    urls = work / "urls.txt"
    urls.write_text(
        "".join(
            fleet.server.dsn(name).replace("postgresql://", "postgres://", 1) + "?sslmode=disable\n"
            for name in fleet.names
        )
    )
    script = work / "loop.sh"
    script.write_text(
        "while read -r url; do\n"
        '  DATABASE_URL="$url" "$DBMATE" --migrations-dir "$DIR" --no-dump-schema up \\\n'
        "    >/dev/null || exit 1\n"
        'done < "$URLS"\n'
    )
    env = {**_env(), "DBMATE": tool.command[0], "DIR": str(directory), "URLS": str(urls)}
    return _timed(["bash", str(script)], env, fleet.server)


def measure(sizes: Sequence[int], concurrency: int, sweep: Sequence[int], sweep_n: int) -> str:
    dbmate = peers.dbmate()
    work = peers.WORK_DIR / "fleet"
    shutil.rmtree(work, ignore_errors=True)
    ours_dir, theirs_dir = work / "migrator", work / "dbmate"
    ours_dir.mkdir(parents=True)
    theirs_dir.mkdir(parents=True)
    _write_migrator(ours_dir)
    _write_dbmate(theirs_dir)
    rows = []
    cpu_rows = []
    sweep_rows = []
    with EphemeralServer() as server:
        for n in sizes:
            fleet = Fleet(server, f"ours{n}", n)
            fleet.create()
            try:
                ours = _run_migrator(fleet, ours_dir, concurrency, work)
                assert fleet.applied("SELECT max(version) FROM migrator_ledger") == {"10"}
            finally:
                fleet.drop()
            theirs = None
            if dbmate is not None:
                loop = Fleet(server, f"dbmate{n}", n)
                loop.create()
                try:
                    theirs = _run_dbmate_loop(loop, theirs_dir, dbmate, work)
                    assert loop.applied("SELECT max(version) FROM schema_migrations") == {"010"}
                finally:
                    loop.drop()
            rows.append(
                [
                    str(n),
                    f"{ours.seconds:.2f} s",
                    f"{theirs.seconds:.2f} s" if theirs else "not installed",
                    factor(ours.seconds / theirs.seconds) if theirs else "-",
                    f"{ours.peak_rss_mb:.0f} MB" if ours.peak_rss_mb else "-",
                    f"{1000 * ours.seconds / n:.1f} ms",
                ]
            )
            for name, run in (("migrate --targets", ours), ("dbmate loop", theirs)):
                if run is not None:
                    cpu_rows.append(
                        [
                            str(n),
                            name,
                            f"{run.seconds:.2f} s",
                            f"{run.client_cpu:.2f} s",
                            f"{run.server_cpu:.2f} s",
                            f"{run.cpu_floor:.2f} s",
                        ]
                    )
            print(
                f"N={n}: migrate {ours.seconds:.2f}s, dbmate loop "
                f"{theirs.seconds if theirs else float('nan'):.2f}s",
                file=sys.stderr,
            )
        for n in [sweep_n] if sweep else []:
            for level in sweep:
                fleet = Fleet(server, f"sweep{n}c{level}", n)
                fleet.create()
                try:
                    run = _run_migrator(fleet, ours_dir, level, work)
                finally:
                    fleet.drop()
                sweep_rows.append([str(level), f"{run.seconds:.2f} s", f"{run.peak_rss_mb:.0f} MB"])
    lines = [
        f"10 migrations (one `CREATE INDEX CONCURRENTLY`) on N databases of one PostgreSQL; "
        f"`migrate up --targets FILE --concurrency {concurrency}` against a bash loop of "
        f"`dbmate up` ({dbmate.version if dbmate else 'dbmate not installed'}), one run each.",
        "",
        table(
            ["N", "migrate --targets", "dbmate loop", "ratio", "migrate peak RSS", "per target"],
            rows,
        ),
    ]
    lines += [
        "",
        "Where the time goes: CPU seconds of the client (migrate; bash and every dbmate "
        "process of the loop) and of the server meanwhile, and the shortest wall time that "
        f"much CPU allows on {os.cpu_count()} cores (CPU / cores):",
        "",
        table(["N", "contender", "wall", "client CPU", "server CPU", "CPU floor"], cpu_rows),
    ]
    if sweep_rows:
        lines += [
            "",
            f"Concurrency at N = {sweep_n}:",
            "",
            table(["--concurrency", "wall time", "peak RSS"], sweep_rows),
        ]
    lines += ["", "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine_facts())]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,500")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sweep", default="1,4,8,16", help="concurrency levels to try")
    parser.add_argument("--sweep-n", type=int, default=200, help="N of the concurrency sweep")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.sizes.split(",") if part]
    sweep = [int(part) for part in args.sweep.split(",") if part]
    text = measure(sizes, args.concurrency, sweep, args.sweep_n)
    print(text)
    return text


if __name__ == "__main__":
    main()
