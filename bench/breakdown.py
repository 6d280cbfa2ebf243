"""Where migrator's whole-process time goes: interpreter start, imports, reading and
parsing the migration files, and the rest (connecting, the ledger, the SQL itself).

The first three are measured on their own (the same Python, the same files); the rest
is what remains of the measured ``migrate up`` time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.timing import PYTHON_AS_INSTALLED, median, milliseconds, run_timed
from migrator.source import discover, require_runnable

#: the modules ``migrate up`` needs before it can do anything
RUNNER_MODULES = "import migrator.cli, migrator.runner.flows"


def _in_process(directory: Path) -> float:
    """What ``up`` does with the files before connecting: discover them all (both
    files of each migration are read for their checksums) and check the up files."""
    began = time.perf_counter()
    migration_set = discover(directory)
    require_runnable(migration_set, [migration.up for migration in migration_set.migrations])
    return time.perf_counter() - began


def measure(directory: Path, repeat: int) -> list[tuple[str, float]]:
    """(component, median seconds) for the migrations in ``directory``."""
    interpreter = median([run_timed([sys.executable, "-c", "pass"]) for _ in range(repeat)])
    imports = median(
        [
            run_timed([sys.executable, "-c", RUNNER_MODULES], env=PYTHON_AS_INSTALLED)
            for _ in range(repeat)
        ]
    )
    _in_process(directory)  # the file cache is warm for the tools too
    files = median([_in_process(directory) for _ in range(repeat)])
    return [
        ("Python interpreter start", interpreter),
        ("importing the CLI and the runner", imports - interpreter),
        ("discovering and parsing the files", files),
    ]


def render(parts: list[tuple[str, float]], total: float, n: int) -> str:
    rest = total - sum(seconds for _, seconds in parts)
    rows = [*parts, ("connecting, ledger, executing the SQL (the rest)", rest)]
    lines = [f"**Where `migrate up` spends its {milliseconds(total)} at N={n:,}**", ""]
    lines += ["| part | time | share |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {milliseconds(seconds)} | {seconds / total:.0%} |" for name, seconds in rows
    ]
    return "\n".join(lines) + "\n"
