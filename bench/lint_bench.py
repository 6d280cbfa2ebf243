"""`migrate lint` against `squawk --reporter json`: whole-process wall time, same run.

Three workloads (issue 3, "Performance"):

(a) one large file of about 16,000 statements (the lemmy corpus's up migrations
    concatenated until that many);
(b) a directory of several hundred real-world migrations (the lemmy corpus, 684 files);
(c) one small file, the pre-commit case: a lemmy migration copied alone into an empty
    directory, and the same file linted in place (its 11 earlier migrations replayed).

Each command runs ``--repeat`` times (default 5) after one warm-up; the table shows
medians of wall time and of CPU time (user + system of the child, from ``wait4``: on
a machine shared with other work, wall time grows with the load and CPU time hardly
does). Both tools exit 1 when they find something, which is expected here. CPU time
counts every process of a run: squawk's threads, and for (b) the child process migrator
forks to lint the second part of a large directory (wait4 includes waited-for children).

    python -m bench.lint_bench [--repeat N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import table

#: the shared corpora beside the checkout (``../shared/corpora``), or MIGRATOR_CORPORA
SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CORPUS = Path(os.environ.get("MIGRATOR_CORPORA", str(SHARED_CORPORA))) / "lemmy"
TARGET_STATEMENTS = 16_000
SMALL_FILE = "0012_add_delete_columns.up.sql"
#: the migration (d) adds after the corpus's last
NEW_FILE = "9999_add_person_nickname.up.sql"


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


@dataclass(frozen=True)
class Sample:
    """One run: wall time and the child's CPU time (user + system), in seconds."""

    wall: float
    cpu: float


def _environment() -> dict[str, str]:
    """The environment of the measured commands: Python may cache bytecode (into a
    scratch folder, not the source tree), as an installed package has it; with
    ``PYTHONDONTWRITEBYTECODE`` every run would compile migrator's modules again."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "lint-bench-pycache")
    return environment


def _run(argv: Sequence[str], cwd: Path) -> Sample:
    """Run ``argv`` with output to /dev/null; its CPU time comes from ``os.wait4``, so
    it does not depend on how loaded the machine is (its wall time does)."""
    began = time.perf_counter()
    with open(os.devnull, "wb") as sink, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            list(argv), cwd=cwd, stdout=sink, stderr=errors, env=_environment()
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{argv[0]} exited {process.returncode}: {' | '.join(tail)}")
    return Sample(elapsed, usage.ru_utime + usage.ru_stime)


def _median(
    argv: Sequence[str], cwd: Path, repeat: int, before: Callable[[], None] | None = None
) -> Sample:
    """Median of ``repeat`` runs after a warm-up run (page cache, pyc files, and the
    lint cache of the runs that use it); ``before`` is called before each run."""
    samples = []
    for _ in range(repeat + 1):
        if before is not None:
            before()
        samples.append(_run(argv, cwd))
    samples = samples[1:]
    return Sample(
        statistics.median(s.wall for s in samples), statistics.median(s.cpu for s in samples)
    )


_edits = itertools.count(1)


def _edit(path: Path) -> None:
    """A new migration, a little different each time (as while it is being written)."""
    path.write_text(
        f"-- edit {next(_edits)}\n"
        "ALTER TABLE person ADD COLUMN nickname text;\n"
        "CREATE INDEX person_nickname ON person (nickname);\n"
    )


def _large_file(directory: Path) -> tuple[Path, int]:
    """The lemmy up migrations, concatenated until about TARGET_STATEMENTS statements."""
    from migrator.sql.parse import parse_statements

    ups = sorted(CORPUS.glob("*.up.sql"))
    texts = [path.read_text() for path in ups]
    counts = [len(parse_statements(text) or ()) for text in texts]
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


#: what any Python linter built on pglast pays before it looks at one statement: the
#: interpreter's start, pglast's import (the cheapest way migrator knows), reading the
#: files and libpg_query's parse of them; no analysis and no output
_FLOOR = (
    "import sys\n"
    "from migrator.sql.libpg import pg_parser\n"
    "for name in sys.argv[1:]:\n"
    "    with open(name, encoding='utf-8') as handle:\n"
    "        pg_parser.parse_sql_json(handle.read())\n"
)


def _statement_count(paths: Sequence[str]) -> int:
    from migrator.sql.parse import parse_statements

    return sum(len(parse_statements(Path(p).read_text()) or ()) for p in paths)


def measure(repeat: int = 5) -> str:
    squawk = _squawk()
    migrate = _migrate()
    with tempfile.TemporaryDirectory(prefix="lint-bench-") as scratch:
        root = Path(scratch)
        os.environ["MIGRATOR_CACHE_DIR"] = str(root / "cache")  # starts empty
        (root / "pyproject.toml").write_text("[tool.migrator]\n")
        large, statements = _large_file(root)
        alone = root / "alone"
        alone.mkdir()
        shutil.copy(CORPUS / SMALL_FILE, alone / SMALL_FILE)
        corpus_files = sorted(str(p) for p in CORPUS.glob("*.sql"))
        lemmy = root / "lemmy"
        shutil.copytree(CORPUS, lemmy)
        newest = lemmy / NEW_FILE
        cold, warm = ["lint", "--no-cache"], ["lint"]
        lint_large = ["--format", "json", str(large)]
        lint_corpus = ["--format", "json"]
        workloads: list[tuple[str, list[str], list[str], Callable[[], None] | None]] = [
            (
                f"(a) one file, {statements:,} statements, {large.stat().st_size / 1e6:.1f} MB",
                [*migrate, *cold, *lint_large],
                ["--reporter", "json", str(large)],
                None,
            ),
            (
                "(a) the same, cache warm (file unchanged since the last run)",
                [*migrate, *warm, *lint_large],
                ["--reporter", "json", str(large)],
                None,
            ),
            (
                f"(b) directory, {len(corpus_files)} files (lemmy)",
                [*migrate, "--dir", str(CORPUS), *cold, *lint_corpus],
                ["--reporter", "json", *corpus_files],
                None,
            ),
            (
                "(b) the same, cache warm (directory unchanged since the last run)",
                [*migrate, "--dir", str(CORPUS), *warm, *lint_corpus],
                ["--reporter", "json", *corpus_files],
                None,
            ),
            (
                "(c) one small file, alone",
                [*migrate, *cold, "--format", "json", str(alone / SMALL_FILE)],
                ["--reporter", "json", str(alone / SMALL_FILE)],
                None,
            ),
            (
                "(c') the same file in place (11 earlier migrations replayed)",
                [*migrate, *cold, "--format", "json", str(CORPUS / SMALL_FILE)],
                ["--reporter", "json", str(CORPUS / SMALL_FILE)],
                None,
            ),
            (
                "(d) pre-commit: a new migration after lemmy's 342, edited before each run",
                [*migrate, "--dir", str(lemmy), *cold, "--format", "json", str(newest)],
                ["--reporter", "json", str(newest)],
                lambda: _edit(newest),
            ),
            (
                "(d) the same, cache warm (the 342 before it unchanged)",
                [*migrate, "--dir", str(lemmy), *warm, "--format", "json", str(newest)],
                ["--reporter", "json", str(newest)],
                lambda: _edit(newest),
            ),
        ]
        rows = []
        #: label -> (migrate, squawk) samples
        measured: dict[str, tuple[Sample, Sample | None]] = {}
        for label, ours, theirs, before in workloads:
            mine = _median(ours, root, repeat, before)
            row = [label, f"{mine.wall:.3f} s", f"{mine.cpu:.3f} s"]
            without_cache = "cache warm" not in label
            if without_cache:
                measured[label[:3]] = (mine, None)
            if squawk is not None:
                other = _median([*squawk, *theirs], root, repeat, before)
                if without_cache:
                    measured[label[:3]] = (mine, other)
                row += [
                    f"{other.wall:.3f} s",
                    f"{other.cpu:.3f} s",
                    f"{mine.wall / other.wall:.2f}x",
                    f"{mine.cpu / max(other.cpu, 1e-3):.2f}x",
                ]
            else:
                row += ["not installed", "-", "-", "-"]
            rows.append(row)
        floor = [sys.executable, "-c", _FLOOR]
        floors = {
            "(a)": (_median([*floor, str(large)], root, repeat), statements),
            "(b)": (_median([*floor, *corpus_files], root, repeat), _statement_count(corpus_files)),
        }
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    note = (
        f"Median of {repeat} runs after one warm-up: whole-process wall time, and CPU time "
        "(user + system of the child, from wait4; it does not grow with the machine's load "
        f"as wall time does). Load average during the run: {load}. A ratio above 1 means "
        "migrator is slower. migrator replays the schema and runs every rule; squawk "
        "judges each file alone and has no cache. Rows without 'cache warm' run with "
        "`--no-cache`; the warm rows run after one run that filled the cache, which is how "
        "a pre-commit hook, or a CI job that keeps ~/.cache/migrator, meets them."
    )
    header = [
        "workload",
        "migrate wall",
        "migrate CPU",
        "squawk wall",
        "squawk CPU",
        "wall ratio",
        "CPU ratio",
    ]
    floor_rows = [
        [
            key,
            f"{statements:,}",
            f"{sample.wall:.3f} s",
            f"{measured[key][0].wall:.3f} s",
            _seconds(measured[key][1]),
            _per_statement(measured[key][1], sample, statements),
            f"{(measured[key][0].cpu - sample.cpu) / statements * 1e6:.0f} µs",
        ]
        for key, (sample, statements) in floors.items()
    ]
    floor_header = [
        "workload",
        "statements",
        "floor wall",
        "migrate wall",
        "squawk wall",
        "left per statement to tie squawk",
        "migrate CPU per statement beyond the floor",
    ]
    floor_note = (
        "The floor is what any Python linter built on pglast pays before it looks at one "
        "statement: the interpreter's start, pglast's import, reading the files and "
        "libpg_query's parse of them (one process, no analysis, no output). "
        "'Left per statement' is squawk's wall time minus the floor, divided among the "
        "statements: the budget for replaying and judging each one, on one core, to tie."
    )
    return (
        table(header, rows)
        + "\n\n"
        + note
        + "\n\n"
        + table(floor_header, floor_rows)
        + "\n\n"
        + floor_note
        + "\n\n"
        + _goals(measured)
        + "\n"
    )


def _seconds(sample: Sample | None) -> str:
    return "-" if sample is None else f"{sample.wall:.3f} s"


def _per_statement(squawk: Sample | None, floor: Sample, statements: int) -> str:
    if squawk is None:
        return "-"
    return f"{(squawk.wall - floor.wall) / statements * 1e6:.0f} µs"


def _goals(measured: dict[str, tuple[Sample, Sample | None]]) -> str:
    """The issue's goals, judged on the runs without the cache: faster than squawk on
    (a) and (b), under 150 ms on (c)."""
    lines = ["Goals (issue 3), judged on the runs without the cache:"]
    for key in ("(a)", "(b)"):
        mine, other = measured[key]
        if other is None:
            lines.append(f"- {key} faster than squawk: squawk not installed, not judged.")
            continue
        ratio = mine.wall / other.wall
        verdict = "met" if ratio < 1 else "not met"
        lines.append(
            f"- {key} faster than squawk: {verdict} ({ratio:.2f}x squawk's wall time, "
            f"{mine.wall:.3f} s against {other.wall:.3f} s)."
        )
    small = measured["(c)"][0].wall
    verdict = "met" if small < 0.150 else "not met"
    lines.append(f"- (c) under 150 ms: {verdict} ({small * 1000:.0f} ms).")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not CORPUS.is_dir():
        raise SystemExit(
            f"lint_bench: the lemmy corpus is not at {CORPUS}: put the shared corpora "
            "beside this checkout (../shared/corpora) or set MIGRATOR_CORPORA"
        )
    section = measure(args.repeat)
    print(section)
    return section


if __name__ == "__main__":
    main()
