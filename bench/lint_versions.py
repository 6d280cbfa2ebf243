"""`migrate lint` of two versions of migrator, side by side: CPU time, best of N.

The cold workloads of bench/lint_bench.py ((a) one large file, (b) the lemmy directory,
(c) one small file alone and (c') in place, (d) a new migration after lemmy's), run by
the migrator of a git revision (``git archive REV migrator`` into a scratch folder, put
first on ``PYTHONPATH``) and by this checkout's, interleaved run by run so that both
meet the same load. CPU time is user + system of the child (``wait4``), the best of
``--repeat`` runs after one warm-up: on a machine others load, wall time measures them
more than migrator, and the least CPU time of several runs is the one least disturbed.

    python -m bench.lint_versions --before ae762e9 [--repeat 7]

With ``--instructions`` each command runs once under valgrind's callgrind instead, and
the table gives the instructions it executed (every process of the run: the child a
large directory forks included): a count that the machine's load does not change
(bytecode is compiled by a first run, as the benchmark has it cached).

    python -m bench.lint_versions --before ae762e9 --instructions
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.lint_bench import (
    CORPUS,
    NEW_FILE,
    SMALL_FILE,
    _edit,
    _environment,
    _large_file,
    _run,
)
from bench.report import table

REPOSITORY = Path(__file__).resolve().parents[1]


def _checkout(revision: str, into: Path) -> str:
    """Extract ``migrator/`` of ``revision`` into ``into``; its full commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", commit, "migrator"], cwd=REPOSITORY, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return commit


def _command(source: Path) -> list[str]:
    """``python -m migrator`` importing migrator from ``source``."""
    return [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(source)!r}); from migrator.cli import main; main()",
    ]


_COLLECTED = re.compile(r"Collected : ([0-9]+)")


def _instructions(argv: Sequence[str], cwd: Path) -> int:
    """Instructions ``argv`` executes (callgrind's total, summed over its processes)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("lint_versions: --instructions needs valgrind")
    with tempfile.TemporaryDirectory(prefix="callgrind-") as scratch:
        completed = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/out.%p",
                *argv,
            ],
            cwd=cwd,
            env=_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"{argv[0]} exited {completed.returncode}: {completed.stderr[-300:]}")
    return sum(int(found) for found in _COLLECTED.findall(completed.stderr))


def measure(before: str, repeat: int, instructions: bool = False) -> str:
    with tempfile.TemporaryDirectory(prefix="lint-versions-") as scratch:
        root = Path(scratch)
        os.environ["MIGRATOR_CACHE_DIR"] = str(root / "cache")
        (root / "pyproject.toml").write_text("[tool.migrator]\n")
        old_source = root / "before"
        commit = _checkout(before, old_source)
        versions = {"before": _command(old_source), "now": _command(REPOSITORY)}
        large, statements = _large_file(root)
        alone = root / "alone"
        alone.mkdir()
        shutil.copy(CORPUS / SMALL_FILE, alone / SMALL_FILE)
        lemmy = root / "lemmy"
        shutil.copytree(CORPUS, lemmy)
        newest = lemmy / NEW_FILE
        cold = ["lint", "--no-cache", "--format", "json"]
        workloads = [
            (f"(a) one file, {statements:,} statements", [*cold, str(large)]),
            ("(b) directory, lemmy", ["--dir", str(CORPUS), *cold]),
            ("(c) one small file, alone", [*cold, str(alone / SMALL_FILE)]),
            ("(c') the same file in place", [*cold, str(CORPUS / SMALL_FILE)]),
            ("(d) a new migration after lemmy's", ["--dir", str(lemmy), *cold, str(newest)]),
        ]
        rows = []
        for label, arguments in workloads:
            if instructions:
                rows.append(_counted(label, versions, arguments, root, newest))
                continue
            best: dict[str, float] = {}
            for attempt in range(repeat + 1):
                for version, command in versions.items():
                    if label.startswith("(d)"):
                        _edit(newest)
                    cpu = _run([*command, *arguments], root).cpu
                    if attempt:  # the first round warms the page cache
                        best[version] = min(best.get(version, cpu), cpu)
            rows.append(
                [
                    label,
                    f"{best['before']:.3f} s",
                    f"{best['now']:.3f} s",
                    f"{best['now'] / best['before']:.2f}x",
                ]
            )
    if instructions:
        return (
            table(["workload", f"before ({commit[:7]}) Ir", "now Ir", "now / before"], rows)
            + "\n\nInstructions executed (valgrind --tool=callgrind, every process of the run), "
            "one run of each after one uncounted run; `--no-cache`.\n"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        table(["workload", f"before ({commit[:7]}) CPU", "now CPU", "now / before"], rows)
        + "\n\n"
        + f"CPU time (user + system, from wait4), best of {repeat} runs after one warm-up, "
        f"the two versions interleaved; `--no-cache`. Load average at the end: {load}.\n"
    )


def _counted(
    label: str, versions: dict[str, list[str]], arguments: list[str], root: Path, newest: Path
) -> list[str]:
    """One table row of instruction counts (a first run of each compiles bytecode)."""
    counts: dict[str, int] = {}
    for version, command in versions.items():
        if label.startswith("(d)"):
            _edit(newest)
        _run([*command, *arguments], root)
        if label.startswith("(d)"):
            _edit(newest)
        counts[version] = _instructions([*command, *arguments], root)
    return [
        label,
        f"{counts['before'] / 1e6:,.1f} M",
        f"{counts['now'] / 1e6:,.1f} M",
        f"{counts['now'] / counts['before']:.3f}x",
    ]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with callgrind"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not CORPUS.is_dir():
        raise SystemExit(f"lint_versions: the lemmy corpus is not at {CORPUS}")
    section = measure(args.before, args.repeat, args.instructions)
    print(section)
    return section


if __name__ == "__main__":
    main()
