"""Markdown for docs/benchmarks.md: tables, ratios and the facts of the machine."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: bool = True) -> str:
    """A markdown table; with ``numeric`` every column but the first is right-aligned."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join("---" if i == 0 or not numeric else "---:" for i in range(len(header)))
        + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def factor(value: float) -> str:
    """A ratio as ``2.50x``; above 1 means slower than the reference."""
    return f"{value:.2f}x"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """The 1-minute load average: how busy the (shared) machine was."""
    return f"{os.getloadavg()[0]:.2f}"


def machine_facts() -> list[tuple[str, str]]:
    """What the numbers were measured on (they are only comparable within one run)."""
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU model", _cpu_model()),
        ("memory", _memory()),
        ("kernel", platform.release()),
        ("Python", sys.version.split()[0]),
    ]
