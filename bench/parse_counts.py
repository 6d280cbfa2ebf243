"""How often libpg_query is called, per workload: a count of parser calls, not a time.

The planner and the linter share one statement model (``migrator.sql``): a statement
of a migration or of a change file should be parsed once per run. This counts every
call into pglast's parser (JSON parses, Python AST parses, splits, scans) while

(a) ``migrate plan`` plans every change of the planner's differential corpus
    (tests/plan/differential/cases) against its base schema, and
(b) ``migrate lint`` lints the lemmy corpus (684 files) in one process, no cache.

    python -m bench.parse_counts
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
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


def _plan_corpus() -> tuple[int, Counter[str]]:
    from migrator.plan.model import CannotPlan
    from migrator.plan.planner import plan_changes
    from migrator.plan.recipes.target import PlanOptions
    from migrator.source import discover
    from migrator.sql.split import split_statements
    from tests.plan.differential.harness import corpus

    cases = corpus()
    statements = sum(len(split_statements(case.change).statements) for case in cases)
    CALLS.clear()
    with tempfile.TemporaryDirectory() as scratch:
        for case in cases:
            directory = Path(scratch) / case.id
            directory.mkdir()
            base = directory / "001_base.up.sql"
            base.write_text(case.schema, encoding="utf-8")
            earlier = list(discover(directory).migrations)
            with contextlib.suppress(CannotPlan):
                plan_changes(case.change, case.id, earlier, PlanOptions())
    return statements, Counter(CALLS)


def _lint_lemmy() -> tuple[int, Counter[str]]:
    from bench.lint_bench import CORPUS
    from migrator.lint import targets
    from migrator.lint.options import LintOptions

    targets.PARALLEL_MIN_FILES = targets.PARALLEL_MIN_BYTES = 10**9  # one process
    CALLS.clear()
    report = targets.lint_paths([CORPUS], migrations_dir=CORPUS, options=LintOptions())
    return report.files, Counter(CALLS)


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    _install()
    rows = []
    planned, plan_calls = _plan_corpus()
    rows.append(["plan: differential corpus", f"{planned} change statements", plan_calls])
    files, lint_calls = _lint_lemmy()
    rows.append(["lint: lemmy, one process", f"{files} files", lint_calls])
    print(
        table(
            ["workload", "size", *_ENTRY_POINTS, "total"],
            [
                [name, size, *(str(calls[n]) for n in _ENTRY_POINTS), str(sum(calls.values()))]
                for name, size, calls in rows
            ],
        )
    )


if __name__ == "__main__":
    main()
