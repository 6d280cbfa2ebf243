"""Whole-process wall time of commands, repeated, summarised by the median."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: a single benchmark command never runs longer than this
COMMAND_TIMEOUT_S = 900
#: environment for a measured Python command: bytecode cached (in a scratch folder, not
#: the source tree) as an installed package has it, even when the caller's environment
#: says PYTHONDONTWRITEBYTECODE (then every run would compile the project's modules)
PYTHON_AS_INSTALLED = {
    "PYTHONDONTWRITEBYTECODE": "",
    "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "bench-pycache"),
}


class CommandFailed(Exception):
    """A benchmarked command exited non-zero: its number would mean nothing."""

    def __init__(self, argv: Sequence[str], code: int, output: str) -> None:
        tail = " | ".join(output.strip().splitlines()[-3:])
        super().__init__(f"{Path(argv[0]).name} exited {code}: {tail}")


@dataclass(frozen=True)
class Sample:
    """One run of a command: wall time, and the CPU time (user + system) of the command's
    own processes. CPU time does not grow with the machine's load the way wall time does."""

    wall: float
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> Sample:
    """Run ``argv`` to completion; return its wall and CPU time. Raises CommandFailed.

    The CPU time is the growth of this process's reaped-children usage across the run,
    so nothing else may run as a child of this process meanwhile (the benchmarks run
    one command at a time).
    """
    environment = {**os.environ, **(env or {})}
    cpu_before = _children_cpu()
    began = time.perf_counter()
    completed = subprocess.run(
        list(argv),
        env=environment,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if completed.returncode != 0:
        raise CommandFailed(argv, completed.returncode, completed.stdout + completed.stderr)
    return Sample(elapsed, _children_cpu() - cpu_before)


def run_timed(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> float:
    """Run ``argv`` to completion; return its wall time in seconds. Raises CommandFailed."""
    return run_measured(argv, env, cwd, stdin).wall


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def seconds(value: float) -> str:
    """``0.123 s`` / ``12.3 s``: three significant figures, enough for noisy machines."""
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def milliseconds(value: float) -> str:
    """``12.3 ms``; a second or more is written in seconds."""
    if abs(value) >= 1:
        return seconds(value)
    return f"{value * 1000:.3g} ms"
