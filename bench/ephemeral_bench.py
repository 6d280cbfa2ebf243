"""Ephemeral server: how long ``EphemeralServer`` takes from start to accepting
connections (initdb included), and to stop and clean up. This is what every
``migrate dry-run`` and every test session pays once.

    python -m bench.ephemeral_bench --repeat 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import table
from bench.timing import median, milliseconds
from migrator.ephemeral import EphemeralServer

DEFAULT_REPEAT = 3


@dataclass(frozen=True)
class EphemeralResults:
    repeat: int
    start: list[float]
    stop: list[float]


def measure(repeat: int = DEFAULT_REPEAT) -> EphemeralResults:
    starts, stops = [], []
    for _ in range(repeat):
        server = EphemeralServer()
        began = time.perf_counter()
        server.start()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        server.stop()
        stops.append(time.perf_counter() - began)
    return EphemeralResults(repeat, starts, stops)


def render(results: EphemeralResults) -> str:
    rows = [
        [
            "start to ready (initdb + postgres)",
            milliseconds(median(results.start)),
            milliseconds(min(results.start)),
            milliseconds(max(results.start)),
        ],
        [
            "stop and remove",
            milliseconds(median(results.stop)),
            milliseconds(min(results.stop)),
            milliseconds(max(results.stop)),
        ],
    ]
    return (
        f"`migrator.ephemeral.EphemeralServer`, {results.repeat} runs, in-process wall time.\n\n"
        + table(["step", "median", "min", "max"], rows)
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    args = parser.parse_args(argv)
    text = render(measure(args.repeat))
    print(text)
    return text


if __name__ == "__main__":
    main()
