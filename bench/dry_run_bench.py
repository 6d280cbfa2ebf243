"""Dry-run cost: ``migrate dry-run`` of the first N lemmy migrations against a plain
``psql`` apply of the same up files, N and 10N.

One embedded PostgreSQL serves both. ``psql`` applies the N up files in order, in one
process (``-f`` per file), into a fresh database: the floor, what applying the files
costs at all. ``migrate dry-run --no-lint --database-url`` rehearses them on the same
server (a throwaway database, no server start): up, down, up again per migration and
the schema comparisons between. A run counts only when every one of the N migrations
was rehearsed (the JSON report says so; lemmy has downs that do not restore the schema
exactly, which fail the dry-run but do not stop it). Wall time, the CPU time of the
command's own processes, and the server's CPU time for it (the postmaster's reaped
backends, from /proc): on a loaded machine wall time mostly measures the wait for a
core, the CPU times what each side costs.

    python -m bench.dry_run_bench --sizes 24,240 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import factor, load_average, table
from bench.timing import COMMAND_TIMEOUT_S, PYTHON_AS_INSTALLED, Sample, median, seconds
from migrator.ephemeral import EphemeralServer

SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CORPUS = Path(os.environ.get("MIGRATOR_CORPORA", str(SHARED_CORPORA))) / "lemmy"
DEFAULT_SIZES = (24, 240)


@dataclass(frozen=True)
class Measured:
    sample: Sample
    #: CPU seconds the server's backends spent for the command
    server_cpu: float


@dataclass(frozen=True)
class Row:
    n: int
    psql: list[Measured]
    dry_run: list[Measured]


def _server_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster's reaped children (the backends of closed
    connections), from /proc; 0 where /proc is not there."""
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    cutime, cstime = int(fields[13]), int(fields[14])
    return (cutime + cstime) / os.sysconf("SC_CLK_TCK")


def _run_on(server: EphemeralServer, argv: Sequence[str], ok: tuple[int, ...] = (0,)) -> Measured:
    assert server.data_dir is not None
    postmaster = int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])
    before = _server_cpu(postmaster)
    sample = _run(argv, ok)
    time.sleep(0.5)  # the last backend exits and is reaped after the client closes
    return Measured(sample, _server_cpu(postmaster) - before)


def _run(argv: Sequence[str], ok: tuple[int, ...] = (0,)) -> Sample:
    """Wall and CPU time of ``argv`` (its reaped children's usage)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    began = time.perf_counter()
    completed = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
        env={**os.environ, **PYTHON_AS_INSTALLED},
    )
    wall = time.perf_counter() - began
    if completed.returncode not in ok:
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-3:]
        raise SystemExit(f"{Path(argv[0]).name} exited {completed.returncode}: {tail}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Sample(wall, usage.ru_utime + usage.ru_stime - cpu_before)


def _first(n: int, target: Path) -> list[Path]:
    """The first ``n`` lemmy migrations (up and down files) copied into ``target``;
    returns the up files in order."""
    ups = sorted(CORPUS.glob("*.up.sql"))[:n]
    if len(ups) < n:
        raise SystemExit(f"dry_run_bench: the corpus has {len(ups)} migrations, not {n}")
    target.mkdir(parents=True)
    for up in ups:
        (target / up.name).write_bytes(up.read_bytes())
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        if down.exists():
            (target / down.name).write_bytes(down.read_bytes())
    return [target / up.name for up in ups]


def _migrate() -> list[str]:
    script = Path(sys.executable).with_name("migrate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "migrator"]


def measure(sizes: Sequence[int], repeat: int) -> list[Row]:
    rows = []
    with EphemeralServer() as server, tempfile.TemporaryDirectory() as scratch:
        assert server.bin_dir is not None
        psql = str(server.bin_dir / "psql")
        for n in sizes:
            directory = Path(scratch) / f"lemmy_{n}"
            ups = _first(n, directory)
            psql_samples, dry_samples = [], []
            for attempt in range(repeat):
                database = f"bench_psql_{n}_{attempt}"
                create = f"CREATE DATABASE {database}"
                _run([psql, "-X", "-q", "--dbname", server.dsn(), "-c", create])
                files = [arg for up in ups for arg in ("-f", str(up))]
                psql_samples.append(
                    _run_on(server, [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname",
                          server.dsn(database), *files])
                )  # fmt: skip
                report = Path(scratch) / f"dry-run-{n}-{attempt}.json"
                dry_samples.append(
                    _run_on(server, [*_migrate(), "--dir", str(directory), "dry-run", "--no-lint",
                          "--database-url", server.dsn(), "--format", "json",
                          "--output", str(report)], ok=(0, 1))
                )  # fmt: skip
                migrations = json.loads(report.read_text())["migrations"]
                rehearsed = [m for m in migrations if m["status"] in ("rehearsed", "failed")]
                if len(rehearsed) != n:
                    raise SystemExit(f"dry_run_bench: only {len(rehearsed)} of {n} rehearsed")
            rows.append(Row(n, psql_samples, dry_samples))
    return rows


def render(rows: Sequence[Row], repeat: int) -> str:
    body = []
    for row in rows:
        psql_wall = median([m.sample.wall for m in row.psql])
        dry_wall = median([m.sample.wall for m in row.dry_run])
        psql_cpu = median([m.sample.cpu + m.server_cpu for m in row.psql])
        dry_cpu = median([m.sample.cpu + m.server_cpu for m in row.dry_run])
        body.append(
            [
                str(row.n),
                seconds(psql_wall),
                seconds(dry_wall),
                factor(dry_wall / psql_wall),
                seconds(psql_cpu),
                seconds(median([m.sample.cpu for m in row.dry_run])),
                seconds(median([m.server_cpu for m in row.dry_run])),
                factor(dry_cpu / psql_cpu) if psql_cpu else "-",
            ]
        )
    header = ["N lemmy migrations", "psql apply (wall)", "migrate dry-run (wall)",
              "wall ratio", "psql CPU (psql + server)", "dry-run CPU (migrate)",
              "dry-run CPU (server)", "CPU ratio"]  # fmt: skip
    return (
        table(header, body)
        + f"\n\nMedian of {repeat} run(s); load average during the run: {load_average()}.\n"
    )


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not CORPUS.is_dir():
        raise SystemExit(
            f"dry_run_bench: the lemmy corpus is not at {CORPUS}: put the shared corpora "
            "beside this checkout (../shared/corpora) or set MIGRATOR_CORPORA"
        )
    sizes = [int(size) for size in args.sizes.split(",")]
    section = render(measure(sizes, args.repeat), args.repeat)
    print(section)
    return section


if __name__ == "__main__":
    main()
