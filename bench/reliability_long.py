"""The long reliability run: every kill point on a larger table, many rounds of 16
concurrent ``migrate up`` processes, plus everything the CI runs.

    python bench/reliability_long.py                  # 200,000 rows, 12 rounds
    python bench/reliability_long.py --rounds 30 --rows 1000000

It runs ``pytest -m "slow or not slow" tests/reliability`` with those sizes and prints
how many tests of each kind ran, passed and failed, and how long they took. Exit code:
pytest's (0 when everything held).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _summary(junit: Path) -> list[str]:
    ran: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        ran[module] += 1
        seconds[module] += float(case.get("time", "0"))
        if case.find("failure") is not None or case.find("error") is not None:
            failed[module] += 1
    return [
        f"{module:24} {ran[module]:4} tests  {ran[module] - failed[module]:4} passed  "
        f"{failed[module]:3} failed  {seconds[module]:7.1f} s"
        for module in sorted(ran)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds of 16 processes")
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the indexed table")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    options = parser.parse_args()
    env = {
        **os.environ,
        "RELIABILITY_ROUNDS": str(options.rounds),
        "RELIABILITY_ROWS": str(options.rows),
    }
    with tempfile.TemporaryDirectory() as scratch:
        junit = Path(scratch) / "junit.xml"
        began = time.monotonic()
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-m",
                "slow or not slow",
                "tests/reliability",
                "-q",
                f"--junitxml={junit}",
                *options.pytest_args,
            ],
            cwd=REPO,
            env=env,
            check=False,
        )
        elapsed = time.monotonic() - began
        print(f"\nreliability, long run: {options.rounds} rounds, {options.rows:,} rows")
        if junit.exists():
            print("\n".join(_summary(junit)))
        print(f"total {elapsed:.0f} s, exit {completed.returncode}")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
