"""How often libpg_query is called, per workload: a count of parser calls, not a time.

The planner and the linter share one statement model (``migrator.sql``): a statement
of a migration or of a change file should be parsed once per run. This counts every
call into pglast's parser (JSON parses, Python AST parses, splits, scans) while

(a) ``migrate plan`` plans every change of the planner's differential corpus
    (tests/plan/differential/cases) against its base schema, and
(b) ``migrate lint`` lints the lemmy corpus (684 files) in one process, no cache,

and the CPU time each took (in this process: the best of ``--repeat`` runs, so the
machine's load matters less; parser calls are counted on the first). To compare with
an older checkout, run it with that checkout first on ``PYTHONPATH`` from outside this
one (``cd /tmp && PYTHONPATH=/old/checkout:/this/checkout python -m bench.parse_counts``).

    python -m bench.parse_counts [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pglast
from pglast import parser as pg_parser

from bench.report import table

#: pglast's parser entry points (``pglast.parse_sql`` is ``pglast.parser.parse_sql``)
_ENTRY_POINTS = ("parse_sql_json", "parse_sql", "split", "scan")
CALLS: Counter[str] = Counter()


def _counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        CALLS[name] += 1
        return function(*args, **kwargs)

    return counted


def _install() -> None:
    """Count calls of every entry point (before migrator imports them by name)."""
    for name in _ENTRY_POINTS:
        counted = _counting(name, getattr(pg_parser, name))
        setattr(pg_parser, name, counted)
        if hasattr(pglast, name):
            setattr(pglast, name, counted)


def _best_cpu(run: Callable[[], object], repeat: int) -> float:
    """The least CPU time of ``repeat`` runs of ``run`` (after the counted one)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def _plan_corpus(repeat: int) -> tuple[int, Counter[str], float]:
    from migrator.plan.model import CannotPlan
    from migrator.plan.planner import plan_changes
    from migrator.plan.recipes.target import PlanOptions
    from migrator.source import discover
    from migrator.sql.split import split_statements
    from tests.plan.differential.harness import corpus

    cases = corpus()
    statements = sum(len(split_statements(case.change).statements) for case in cases)
    with tempfile.TemporaryDirectory() as scratch:
        for case in cases:
            directory = Path(scratch) / case.id
            directory.mkdir()
            (directory / "001_base.up.sql").write_text(case.schema, encoding="utf-8")

        def plan_all() -> None:
            for case in cases:
                earlier = list(discover(Path(scratch) / case.id).migrations)
                with contextlib.suppress(CannotPlan):
                    plan_changes(case.change, case.id, earlier, PlanOptions())

        CALLS.clear()
        plan_all()
        calls = Counter(CALLS)
        cpu = _best_cpu(plan_all, repeat)
    return statements, calls, cpu


def _lint_lemmy(repeat: int) -> tuple[int, Counter[str], float]:
    from bench.lint_bench import CORPUS
    from migrator.lint import targets
    from migrator.lint.options import LintOptions

    targets.PARALLEL_MIN_FILES = targets.PARALLEL_MIN_BYTES = 10**9  # one process

    def lint() -> int:
        return targets.lint_paths([CORPUS], migrations_dir=CORPUS, options=LintOptions()).files

    CALLS.clear()
    files = lint()
    calls = Counter(CALLS)
    return files, calls, _best_cpu(lint, repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args(argv).repeat
    _install()
    rows = []
    planned, plan_calls, plan_cpu = _plan_corpus(repeat)
    rows.append(["plan: differential corpus", f"{planned} statements", plan_calls, plan_cpu])
    files, lint_calls, lint_cpu = _lint_lemmy(repeat)
    rows.append(["lint: lemmy, one process", f"{files} files", lint_calls, lint_cpu])
    print(
        table(
            ["workload", "size", *_ENTRY_POINTS, "total", "CPU (best)"],
            [
                [
                    name,
                    size,
                    *(str(calls[n]) for n in _ENTRY_POINTS),
                    str(sum(calls.values())),
                    f"{cpu:.3f} s",
                ]
                for name, size, calls, cpu in rows
            ],
        )
    )


if __name__ == "__main__":
    main()
