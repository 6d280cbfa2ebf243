"""`migrate lint` against `squawk --reporter json`: whole-process wall time, same run.

Three workloads (issue 3, "Performance"):

(a) one large file of about 16,000 statements (the lemmy corpus's up migrations
    concatenated until that many);
(b) a directory of several hundred real-world migrations (the lemmy corpus, 684 files);
(c) one small file, the pre-commit case: a lemmy migration copied alone into an empty
    directory, and the same file linted in place (its 11 earlier migrations replayed).

Each command runs ``--repeat`` times (default 5) after one warm-up; the table shows
medians. Both tools exit 1 when they find something, which is expected here.

    python -m bench.lint_bench [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.report import table

CORPUS = Path(os.environ.get("MIGRATOR_CORPORA", "/work/shared/corpora")) / "lemmy"
TARGET_STATEMENTS = 16_000
SMALL_FILE = "0012_add_delete_columns.up.sql"


def _migrate() -> list[str]:
    script = Path(sys.executable).parent / "migrate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "migrator"]


def _squawk() -> list[str] | None:
    try:
        from bench import peers

        tool = peers.squawk()
        if tool is not None:
            return list(tool.command)
    except Exception:  # the peers module may not know this install
        pass
    for candidate in (Path(sys.executable).parent / "squawk", shutil.which("squawk")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return None


def _wall(argv: Sequence[str], cwd: Path) -> float:
    began = time.perf_counter()
    completed = subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, check=False, timeout=900
    )
    elapsed = time.perf_counter() - began
    if completed.returncode not in (0, 1):
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{argv[0]} exited {completed.returncode}: {' | '.join(tail)}")
    return elapsed


def _median(argv: Sequence[str], cwd: Path, repeat: int) -> float:
    _wall(argv, cwd)  # warm-up: page cache, pyc files
    return statistics.median(_wall(argv, cwd) for _ in range(repeat))


def _large_file(directory: Path) -> tuple[Path, int]:
    """The lemmy up migrations, concatenated until about TARGET_STATEMENTS statements."""
    from migrator.sql.parse import statement_bounds

    ups = sorted(CORPUS.glob("*.up.sql"))
    texts = [path.read_text() for path in ups]
    counts = [len(statement_bounds(text)) for text in texts]
    parts: list[str] = []
    total = 0
    while total < TARGET_STATEMENTS:
        for text, count in zip(texts, counts, strict=True):
            parts.append(text.rstrip().rstrip(";") + ";\n")
            total += count
            if total >= TARGET_STATEMENTS:
                break
    path = directory / "large.sql"
    path.write_text("".join(parts))
    return path, total


def measure(repeat: int = 5) -> str:
    squawk = _squawk()
    migrate = _migrate()
    with tempfile.TemporaryDirectory(prefix="lint-bench-") as scratch:
        root = Path(scratch)
        (root / "pyproject.toml").write_text("[tool.migrator]\n")
        large, statements = _large_file(root)
        alone = root / "alone"
        alone.mkdir()
        shutil.copy(CORPUS / SMALL_FILE, alone / SMALL_FILE)
        corpus_files = sorted(str(p) for p in CORPUS.glob("*.sql"))
        workloads = [
            (
                f"(a) one file, {statements:,} statements, {large.stat().st_size / 1e6:.1f} MB",
                [*migrate, "lint", "--format", "json", str(large)],
                ["--reporter", "json", str(large)],
            ),
            (
                f"(b) directory, {len(corpus_files)} files (lemmy)",
                [*migrate, "--dir", str(CORPUS), "lint", "--format", "json"],
                ["--reporter", "json", *corpus_files],
            ),
            (
                "(c) one small file, alone",
                [*migrate, "lint", "--format", "json", str(alone / SMALL_FILE)],
                ["--reporter", "json", str(alone / SMALL_FILE)],
            ),
            (
                "(c') the same file in place (11 earlier migrations replayed)",
                [*migrate, "lint", "--format", "json", str(CORPUS / SMALL_FILE)],
                ["--reporter", "json", str(CORPUS / SMALL_FILE)],
            ),
        ]
        rows = []
        for label, ours, theirs in workloads:
            mine = _median(ours, root, repeat)
            if squawk is not None:
                other = _median([*squawk, *theirs], root, repeat)
                rows.append([label, f"{mine:.3f} s", f"{other:.3f} s", f"{mine / other:.2f}x"])
            else:
                rows.append([label, f"{mine:.3f} s", "not installed", "-"])
    note = (
        f"Median of {repeat} runs after one warm-up, whole-process wall time; ratio above "
        "1 means migrator is slower. migrator replays the schema and runs every rule; "
        "squawk judges each file alone."
    )
    return table(["workload", "migrate lint", "squawk", "ratio"], rows) + "\n\n" + note + "\n"


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(list(argv) if argv is not None else None)
    section = measure(args.repeat)
    print(section)
    return section


if __name__ == "__main__":
    main()
