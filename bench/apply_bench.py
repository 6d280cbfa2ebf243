"""Apply throughput: N trivial migrations from an empty database to head, per tool.

One shared ephemeral PostgreSQL; each tool gets its own fresh database per run; the
same N ``CREATE TABLE`` statements are written in each tool's own file format. Every
measurement is the whole process (start, connect, read files, apply, exit), repeated
and summarised by the median, with the tools interleaved so that drift on a noisy
machine hits them alike. A run counts only if the tool exits 0 and the database then
holds exactly N benchmark tables.

The bare SQL time (all statements through one ``psql`` process, each in its own
implicit transaction) is the floor: overhead per migration = (tool - bare) / N.

    python -m bench.apply_bench --sizes 100,1000 --repeat 3

``--against DIR`` runs a second migrator (the ``migrator`` package in ``DIR``, say an
older commit's) in the same interleaved rounds, to measure a change side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import breakdown, peers
from bench.report import factor, table
from bench.server_cpu import ServerCpu
from bench.timing import (
    PYTHON_AS_INSTALLED,
    CommandFailed,
    Sample,
    median,
    milliseconds,
    run_measured,
    seconds,
)
from migrator.ephemeral import EphemeralServer

DEFAULT_SIZES = (100, 1000, 3000)
#: the N of issue 2's goal ("at least as fast as dbmate at 1,000 migrations"); the
#: other sizes show how the ratio moves with N
GOAL_N = 1000
DEFAULT_REPEAT = 5
BARE = "bare SQL (psql)"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    bin_dir: Path
    #: the server's CPU clock (``None`` where ``/proc`` cannot tell)
    cpu: ServerCpu | None = None

    def url(self, database: str, scheme: str = "postgresql") -> str:
        return f"{scheme}://postgres@{self.host}:{self.port}/{database}"

    def psql(self, database: str, *args: str) -> list[str]:
        return [
            str(self.bin_dir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--dbname",
            self.url(database),
            *args,
        ]

    def query(self, sql: str, database: str = "postgres") -> str:
        completed = subprocess.run(
            self.psql(database, "-tA", "-c", sql), capture_output=True, text=True, check=True
        )
        return completed.stdout.strip()


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _up_sql(i: int) -> str:
    return f"CREATE TABLE t_{i:05d} (id bigint PRIMARY KEY, v text);\n"


def _down_sql(i: int) -> str:
    return f"DROP TABLE t_{i:05d};\n"


def _stem(i: int, n: int) -> str:
    width = max(4, len(str(n)))
    return f"{i:0{width}d}_create_t_{i:05d}"


# -- each tool's file format ---------------------------------------------------------


def _write_migrator(directory: Path, n: int) -> None:
    for i in range(1, n + 1):
        (directory / f"{_stem(i, n)}.up.sql").write_text(_up_sql(i))
        (directory / f"{_stem(i, n)}.down.sql").write_text(_down_sql(i))


def _write_dbmate(directory: Path, n: int) -> None:
    for i in range(1, n + 1):
        text = f"-- migrate:up\n{_up_sql(i)}\n-- migrate:down\n{_down_sql(i)}"
        (directory / f"{_stem(i, n)}.sql").write_text(text)


def _write_sql_migrate(directory: Path, n: int) -> None:
    for i in range(1, n + 1):
        text = f"-- +migrate Up\n{_up_sql(i)}\n-- +migrate Down\n{_down_sql(i)}"
        (directory / f"{_stem(i, n)}.sql").write_text(text)


def _write_yoyo(directory: Path, n: int) -> None:
    for i in range(1, n + 1):
        (directory / f"{_stem(i, n)}.sql").write_text(_up_sql(i))
        (directory / f"{_stem(i, n)}.rollback.sql").write_text(_down_sql(i))


def _write_bare(directory: Path, n: int) -> None:
    (directory / "all.sql").write_text("".join(_up_sql(i) for i in range(1, n + 1)))


# -- each tool's commands --------------------------------------------------------------

Command = Callable[[Server, Path, str], Invocation]


def _migrator_command(tool: peers.Tool, verb: str, source: Path | None = None) -> Command:
    """``migrate``; with ``source``, the migrator package found in that directory."""
    env = {} if source is None else {"PYTHONPATH": str(source)}

    def command(server: Server, directory: Path, database: str) -> Invocation:
        return Invocation(
            [*tool.command, "--dir", str(directory), "--database-url", server.url(database), verb],
            env,
        )

    return command


def _dbmate_command(tool: peers.Tool, verb: str) -> Command:
    def command(server: Server, directory: Path, database: str) -> Invocation:
        url = server.url(database, scheme="postgres") + "?sslmode=disable"
        argv = [*tool.command, "--migrations-dir", str(directory), "--no-dump-schema", verb]
        return Invocation(argv, {"DATABASE_URL": url})

    return command


def _sql_migrate_command(tool: peers.Tool, verb: str) -> Command:
    def command(server: Server, directory: Path, database: str) -> Invocation:
        config = directory.parent / f"{directory.name}-{database}.yml"
        datasource = (
            f"host={server.host} port={server.port} user=postgres dbname={database} sslmode=disable"
        )
        config.write_text(
            f"bench:\n  dialect: postgres\n  datasource: {datasource}\n  dir: {directory}\n"
        )
        return Invocation([*tool.command, verb, f"-config={config}", "-env=bench"])

    return command


def _yoyo_command(tool: peers.Tool, verb: str) -> Command:
    def command(server: Server, directory: Path, database: str) -> Invocation:
        argv = [*tool.command, verb, "--batch", "--no-config-file"]
        return Invocation([*argv, "--database", server.url(database), str(directory)])

    return command


def _bare_command(server: Server, directory: Path, database: str) -> Invocation:
    return Invocation(server.psql(database, "-f", str(directory / "all.sql")))


@dataclass(frozen=True)
class Contender:
    """A way of getting N tables into a database: a tool, or the bare SQL."""

    name: str
    version: str
    write: Callable[[Path, int], None]
    up: Command
    status: Command | None
    #: the tool's own word for "show what is applied"
    status_verb: str = "status"


def contenders(against: Path | None = None) -> tuple[list[Contender], list[str]]:
    """The contenders that can run here, and a line for each peer that cannot. With
    ``against``, another migrator (a directory holding its ``migrator`` package, such
    as an older commit's) runs in the same rounds as ``migrator@<directory name>``."""
    found: list[Contender] = []
    missing: list[str] = []
    me = peers.migrator()
    found.append(
        Contender(
            "migrator",
            me.version,
            _write_migrator,
            _migrator_command(me, "up"),
            _migrator_command(me, "status"),
        )
    )
    if against is not None:
        found.append(
            Contender(
                f"migrator@{against.name}",
                str(against),
                _write_migrator,
                _migrator_command(me, "up", against),
                _migrator_command(me, "status", against),
            )
        )
    for name, locate, write, make, up_verb, status_verb in (
        ("dbmate", peers.dbmate, _write_dbmate, _dbmate_command, "up", "status"),
        (
            "sql-migrate",
            peers.sql_migrate,
            _write_sql_migrate,
            _sql_migrate_command,
            "up",
            "status",
        ),
        ("yoyo", peers.yoyo, _write_yoyo, _yoyo_command, "apply", "list"),
    ):
        tool = locate()
        if tool is None:
            missing.append(f"{name}: not installed ({peers.INSTALL_HINT})")
            continue
        found.append(
            Contender(
                name,
                tool.version,
                write,
                make(tool, up_verb),
                make(tool, status_verb),
                status_verb,
            )
        )
    found.append(Contender(BARE, "psql", _write_bare, _bare_command, None, "-"))
    return found, missing


# -- measuring -------------------------------------------------------------------------


@dataclass
class Measurement:
    """One contender at one N: samples in seconds, or why it has none."""

    up: list[float] = field(default_factory=list)
    #: CPU time (user + system) of the tool's own processes, per round
    up_cpu: list[float] = field(default_factory=list)
    #: CPU time the server spent on the tool's sessions, per round
    up_server_cpu: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    error: str | None = None


@dataclass
class ApplyResults:
    sizes: tuple[int, ...]
    repeat: int
    contenders: list[Contender]
    missing: list[str]
    server_version: str
    #: (contender name, N) -> measurement
    measurements: dict[tuple[str, int], Measurement]
    #: migrator's time split into parts at the largest N (bench.breakdown)
    breakdown: list[tuple[str, float]] = field(default_factory=list)


def _run(invocation: Invocation, cwd: Path) -> Sample:
    return run_measured(invocation.argv, env={**_clean_env(), **invocation.env}, cwd=cwd)


def _clean_env() -> dict[str, str]:
    """The environment without connection settings that could redirect a tool, with
    Python's bytecode cached as installed (:data:`PYTHON_AS_INSTALLED`)."""
    return {
        **{
            key: value
            for key, value in os.environ.items()
            if key != "DATABASE_URL" and not key.startswith("PG")
        },
        **PYTHON_AS_INSTALLED,
    }


def _count_tables(server: Server, database: str) -> int:
    sql = r"SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\_%'"
    return int(server.query(sql, database))


def _measure_once(
    server: Server, contender: Contender, directory: Path, n: int, database: str, status: int
) -> tuple[Sample, float | None, list[Sample]]:
    """Apply from empty (timed, with the server's CPU time for it), check the result,
    then time ``status`` ``status`` times."""
    server.query(f'CREATE DATABASE "{database}"')
    try:
        if server.cpu is not None:
            server.cpu.settle()
            server_before = server.cpu.seconds()
        elapsed = _run(contender.up(server, directory, database), directory.parent)
        server_cpu = None
        if server.cpu is not None:
            server.cpu.settle()
            server_cpu = server.cpu.seconds() - server_before
        tables = _count_tables(server, database)
        if tables != n:
            raise CommandFailed([contender.name], 0, f"left {tables} of {n} tables")
        status_samples: list[Sample] = []
        if contender.status is not None:
            invocation = contender.status(server, directory, database)
            status_samples = [_run(invocation, directory.parent) for _ in range(status)]
        return elapsed, server_cpu, status_samples
    finally:
        server.query(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def measure(
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeat: int = DEFAULT_REPEAT,
    progress: Callable[[str], None] = print,
    against: Path | None = None,
) -> ApplyResults:
    """Run the apply and status benchmarks on a fresh ephemeral server (``against``:
    see :func:`contenders`)."""
    found, missing = contenders(against)
    work = peers.WORK_DIR / "apply"
    shutil.rmtree(work, ignore_errors=True)
    measurements: dict[tuple[str, int], Measurement] = {}
    with EphemeralServer() as ephemeral:
        assert ephemeral.bin_dir is not None
        server = Server(ephemeral.host, ephemeral.port, ephemeral.bin_dir, _server_cpu(ephemeral))
        version = server.query("SHOW server_version")
        for n in sizes:
            directories = {}
            for contender in found:
                directory = work / f"{_slug(contender.name)}-{n}"
                directory.mkdir(parents=True)
                contender.write(directory, n)
                directories[contender.name] = directory
                measurements[contender.name, n] = Measurement()
            for round_ in range(repeat):
                for contender in _rotated(found, round_):
                    result = measurements[contender.name, n]
                    if result.error:
                        continue
                    database = f"bench_{_slug(contender.name)}_{n}_{round_}"
                    # status on an up-to-date database: measured after the last round
                    status_runs = repeat if round_ == repeat - 1 else 0
                    try:
                        up, server_cpu, status = _measure_once(
                            server,
                            contender,
                            directories[contender.name],
                            n,
                            database,
                            status_runs,
                        )
                    except (CommandFailed, subprocess.TimeoutExpired) as exc:
                        result.error = str(exc)
                        progress(f"  {contender.name} N={n}: FAILED {exc}")
                        continue
                    result.up.append(up.wall)
                    result.up_cpu.append(up.cpu)
                    if server_cpu is not None:
                        result.up_server_cpu.append(server_cpu)
                    result.status.extend(sample.wall for sample in status)
                    progress(
                        f"  {contender.name} N={n} round {round_ + 1}: {seconds(up.wall)} "
                        f"(CPU {seconds(up.cpu)}, server CPU "
                        f"{seconds(server_cpu) if server_cpu is not None else 'n/a'})"
                    )
    parts = breakdown.measure(work / f"migrator-{goal_size(sizes)}", repeat)
    return ApplyResults(tuple(sizes), repeat, found, missing, version, measurements, parts)


def _server_cpu(ephemeral: EphemeralServer) -> ServerCpu | None:
    pid = ephemeral.pid
    if pid is None or not Path(f"/proc/{pid}/comm").exists():
        return None
    if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
        return None  # started through a wrapper that did not exec the postmaster
    clock = ServerCpu(pid)
    return clock if clock.available() else None


def _rotated(found: Sequence[Contender], round_: int) -> list[Contender]:
    """The contenders in this round's order: each round starts one tool later, so
    that no tool always runs first after the server's quiet spell, or always right
    after the same neighbour's ``DROP DATABASE``."""
    shift = round_ % len(found) if found else 0
    return [*found[shift:], *found[:shift]]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.split(" ")[0]).lower()


# -- rendering -------------------------------------------------------------------------


def _median_or_none(samples: list[float]) -> float | None:
    return median(samples) if samples else None


def _paired(
    samples: list[float], reference: list[float], combine: Callable[[float, float], float]
) -> float | None:
    """Median over rounds of ``combine(sample, reference sample of the same round)``.

    The contenders run interleaved, so a round's samples saw the same machine load:
    pairing them cancels most of the drift that separate medians would keep.
    """
    values = [combine(a, b) for a, b in zip(samples, reference, strict=False)]
    return median(values) if values else None


def _divide(a: float, b: float) -> float:
    return a / b


def _minus(a: float, b: float) -> float:
    return a - b


def render(results: ApplyResults) -> str:
    """The markdown section: apply and status tables, overheads, scaling, the goal."""
    sizes = results.sizes
    get = results.measurements
    lines = [
        f"PostgreSQL {results.server_version} (ephemeral, fsync off), one fresh database "
        f"per run, {results.repeat} rounds with the tools interleaved (each round starts "
        "one tool later); whole-process wall time, median over rounds. `vs migrator` = "
        "tool / migrator, the median of the per-round ratios (above 1: slower than "
        "migrator). Overhead per migration = (tool - bare SQL) / N, also per round.",
        "",
    ]
    header = ["tool"]
    for n in sizes:
        header += [f"N={n:,}", "vs migrator", "overhead / migration"]
    rows = []
    for contender in results.contenders:
        row = [contender.name]
        for n in sizes:
            samples = get[contender.name, n].up
            if not samples:
                row += ["failed", "", ""]
                continue
            versus = _paired(samples, get["migrator", n].up, _divide)
            overhead = _paired(samples, get[BARE, n].up, _minus)
            row += [
                seconds(median(samples)),
                factor(versus) if versus is not None else "n/a",
                milliseconds(overhead / n)
                if overhead is not None and contender.name != BARE
                else "-",
            ]
        rows.append(row)
    lines += ["**Apply from empty to head**", "", table(header, rows), ""]

    cpu_rows = []
    for contender in results.contenders:
        row = [contender.name]
        for n in sizes:
            samples = get[contender.name, n].up_cpu
            if not samples:
                row += ["failed", ""]
                continue
            versus = _paired(samples, get["migrator", n].up_cpu, _divide)
            row += [seconds(median(samples)), factor(versus) if versus is not None else "n/a"]
        cpu_rows.append(row)
    cpu_header = ["tool"] + [h for n in sizes for h in (f"N={n:,}", "vs migrator")]
    lines += [
        "**CPU time of the tool's own processes, empty to head** (user + system; the "
        "server's work is not in it, and it grows far less with the machine's load than "
        "wall time)",
        "",
        table(cpu_header, cpu_rows),
        "",
    ]

    lines += _server_cpu_lines(results)

    status_rows = []
    for contender in results.contenders:
        if contender.status is None:
            continue
        row = [f"{contender.name} `{contender.status_verb}`"]
        for n in sizes:
            samples = get[contender.name, n].status
            if not samples:
                row += ["failed" if get[contender.name, n].error else "not run", ""]
                continue
            versus = _paired(samples, get["migrator", n].status, _divide)
            row += [seconds(median(samples)), factor(versus) if versus is not None else "n/a"]
        status_rows.append(row)
    status_header = ["tool"] + [h for n in sizes for h in (f"N={n:,}", "vs migrator")]
    lines += ["**Status of an up-to-date database**", "", table(status_header, status_rows), ""]

    lines += _scaling_lines(results)
    lines += _goal_lines(results)
    goal = goal_size(sizes)
    if results.breakdown and get["migrator", goal].up:
        total = median(get["migrator", goal].up)
        lines += [breakdown.render(results.breakdown, total, goal)]
    for (name, n), measurement in results.measurements.items():
        if measurement.error:
            lines.append(f"- {name} failed at N={n:,}: {measurement.error}")
    for line in results.missing:
        lines.append(f"- not run: {line}")
    return "\n".join(lines).rstrip() + "\n"


def _server_cpu_lines(results: ApplyResults) -> list[str]:
    """The server's CPU time for each tool's sessions, and the sum with the tool's own:
    what a run costs the machine when client and server share it."""
    get = results.measurements
    if not any(m.up_server_cpu for m in get.values()):
        return []
    rows = []
    for contender in results.contenders:
        row = [contender.name]
        for n in results.sizes:
            server = get[contender.name, n].up_server_cpu
            if not server:
                row += ["n/a", "", "", ""]
                continue
            total = [a + b for a, b in zip(server, get[contender.name, n].up_cpu, strict=False)]
            mine = get["migrator", n]
            mine_total = [a + b for a, b in zip(mine.up_server_cpu, mine.up_cpu, strict=False)]
            versus = _paired(server, mine.up_server_cpu, _divide)
            versus_total = _paired(total, mine_total, _divide)
            row += [
                seconds(median(server)),
                factor(versus) if versus is not None else "n/a",
                seconds(median(total)),
                factor(versus_total) if versus_total is not None else "n/a",
            ]
        rows.append(row)
    header = ["tool"] + [
        h
        for n in results.sizes
        for h in (f"server N={n:,}", "vs migrator", "tool + server", "vs migrator")
    ]
    return [
        "**CPU time of the server for the tool's sessions** (user + system of the backends "
        "the tool opened, reaped by the postmaster, plus the server's background processes "
        "meanwhile; `bench/server_cpu.py`), and its sum with the tool's own CPU time",
        "",
        table(header, rows),
        "",
    ]


def _fit(small: int, large: int, at_small: float, at_large: float) -> tuple[float, float]:
    """(marginal cost per migration, fixed cost) of the line through the two sizes."""
    marginal = (at_large - at_small) / (large - small)
    return marginal, at_small - marginal * small


def _scaling_lines(results: ApplyResults) -> list[str]:
    if len(results.sizes) < 2:
        return []
    small, large = results.sizes[0], results.sizes[-1]
    lines = [
        f"**Scaling from N={small:,} to N={large:,}** ({large / small:g}x the migrations). "
        "Each cost is split as fixed + N x marginal through the two sizes: fixed is process "
        "start, imports and connecting; marginal is the cost of one more migration. The "
        "verdict comes from CPU time, which the machine's load disturbs least: a clearly "
        "negative fixed CPU cost would mean growth faster than linear.",
        "",
    ]
    get = results.measurements
    for contender in results.contenders:
        wall = [_median_or_none(get[contender.name, n].up) for n in (small, large)]
        cpu = [_median_or_none(get[contender.name, n].up_cpu) for n in (small, large)]
        if None in wall or None in cpu:
            lines.append(f"- {contender.name}: not measured at both sizes")
            continue
        wall_small, wall_large = wall[0] or 0.0, wall[1] or 0.0
        cpu_small, cpu_large = cpu[0] or 0.0, cpu[1] or 0.0
        wall_marginal, wall_fixed = _fit(small, large, wall_small, wall_large)
        cpu_marginal, cpu_fixed = _fit(small, large, cpu_small, cpu_large)
        shape = (
            "grows faster than linear"
            if cpu_fixed < -0.1 * cpu_small
            else "linear plus a fixed start-up cost"
        )
        lines.append(
            f"- {contender.name}: {shape}. Wall x{wall_large / wall_small:.1f} "
            f"({milliseconds(wall_marginal)} per migration + {milliseconds(wall_fixed)}); "
            f"CPU x{cpu_large / cpu_small:.1f} ({milliseconds(cpu_marginal)} per migration "
            f"+ {milliseconds(cpu_fixed)})"
        )
    lines.append("")
    return lines


def goal_size(sizes: Sequence[int]) -> int:
    """The N the goal is judged at: :data:`GOAL_N` when measured, else the largest."""
    return GOAL_N if GOAL_N in sizes else max(sizes)


def _against_dbmate(results: ApplyResults, n: int) -> str | None:
    """migrator's wall and CPU time against dbmate's at ``n``, in words; ``None`` when
    either was not measured."""
    get = results.measurements
    mine = get["migrator", n]
    theirs = get["dbmate", n] if ("dbmate", n) in get else Measurement()
    versus = _paired(mine.up, theirs.up, _divide)
    cpu = _paired(mine.up_cpu, theirs.up_cpu, _divide)
    if versus is None or cpu is None:
        return None
    rounds = [a / b for a, b in zip(mine.up, theirs.up, strict=False)]
    server = _paired(mine.up_server_cpu, theirs.up_server_cpu, _divide)
    on_server = f", {factor(server)} the server's CPU time for its sessions" if server else ""
    return (
        f"migrator takes {factor(versus)} dbmate's wall time (median of per-round ratios, "
        f"which ranged {factor(min(rounds))} to {factor(max(rounds))}; migrator "
        f"{seconds(median(mine.up))}, dbmate {seconds(median(theirs.up))}) and "
        f"{factor(cpu)} its CPU time{on_server}"
    )


def _goal_lines(results: ApplyResults) -> list[str]:
    n = goal_size(results.sizes)
    judged = _against_dbmate(results, n)
    if judged is None:
        return [f"Goal (at least as fast as dbmate at N={n:,}): not measured.", ""]
    get = results.measurements
    versus = _paired(get["migrator", n].up, get["dbmate", n].up, _divide)
    verdict = "met" if versus is not None and versus <= 1 else "not met"
    lines = [f"Goal (at least as fast as dbmate at N={n:,}): {verdict} in this run: {judged}."]
    for other in results.sizes:
        if other > n and (compared := _against_dbmate(results, other)) is not None:
            lines.append(f"At N={other:,} (not the goal's N): {compared}.")
    return [*lines, ""]


def versions(results: ApplyResults) -> list[tuple[str, str]]:
    return [(c.name, c.version) for c in results.contenders]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument(
        "--against",
        type=Path,
        help="also run the migrator package in this directory, in the same rounds "
        "(e.g. `git archive main migrator | tar -x -C DIR`)",
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    against = args.against.resolve() if args.against else None
    text = render(measure(sizes, args.repeat, against=against))
    print(text)
    return text


if __name__ == "__main__":
    main()
