"""Run every benchmark on this machine and rewrite docs/benchmarks.md.

    bash bench/install_peers.sh      # once: dbmate, sql-migrate, yoyo, squawk
    python -m bench.run_all          # the project's Python (the one with migrator installed)

Sections: apply throughput and status (bench.apply_bench), a real history in dbmate's
layout against dbmate (bench.adopted_bench), lint against squawk
(bench.lint_bench), ephemeral server start (bench.ephemeral_bench), the
zero-downtime load test (bench.zero_downtime), the planner's differential corpus
under load (bench.plan_corpus), and peak memory on large files (bench.large_files).
A section that cannot run says why; no number is invented.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import inspect
import io
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import apply_bench, ephemeral_bench, peers
from bench.report import load_average, machine_facts, table

DOCS = peers.BENCH_DIR.parent / "docs" / "benchmarks.md"


def _section(title: str, body: Callable[[], str]) -> str:
    """One ``##`` section; a failure becomes a sentence saying so, not a number."""
    print(f"== {title}", file=sys.stderr)
    try:
        text = body()
    except Exception as exc:  # a broken section must not hide the others
        traceback.print_exc()
        text = f"Not run: the benchmark failed ({type(exc).__name__}: {exc}).\n"
    return f"## {title}\n\n{text.rstrip()}\n"


def _module_section(module_name: str, missing: str) -> Callable[[], str]:
    """A section produced by another module's ``main()`` (its return value, or what it
    prints); ``missing`` when that module is not written yet."""

    def body() -> str:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return f"Not run: {missing}\n"
        main: Callable[..., object] = module.main
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            returned = main([]) if inspect.signature(main).parameters else main()
        if isinstance(returned, str) and returned.strip():
            return returned
        return captured.getvalue()

    return body


def _versions_table(apply_results: apply_bench.ApplyResults | None) -> str:
    rows: list[list[str]] = []
    if apply_results is not None:
        rows.append(["PostgreSQL server", apply_results.server_version])
        rows += [[name, version] for name, version in apply_bench.versions(apply_results)]
    else:
        rows.append(["migrator", peers.migrator().version])
    squawk = peers.squawk()
    rows.append(["squawk", squawk.version if squawk else f"not installed ({peers.INSTALL_HINT})"])
    return table(["tool", "version"], rows, numeric=False)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, apply_bench.DEFAULT_SIZES)))
    parser.add_argument("--repeat", type=int, default=apply_bench.DEFAULT_REPEAT)
    parser.add_argument("--output", type=Path, default=DOCS)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[
            "apply",
            "real-history",
            "lint",
            "dry-run",
            "ephemeral",
            "zero-downtime",
            "fleet",
            "plan-corpus",
            "large-files",
        ],
        help="leave a section out (the page says it was skipped)",
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    command = "python -m bench.run_all" + "".join(
        " " + shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)
    )

    apply_results: list[apply_bench.ApplyResults] = []

    def apply_section() -> str:
        results = apply_bench.measure(sizes, args.repeat, progress=_progress)
        apply_results.append(results)
        return apply_bench.render(results)

    bodies: dict[str, tuple[str, Callable[[], str]]] = {
        "apply": ("Apply throughput and status", apply_section),
        "real-history": (
            "A real history in dbmate's layout, against dbmate",
            _module_section("bench.adopted_bench", "bench/adopted_bench.py is missing."),
        ),
        "lint": (
            "Lint against squawk",
            _module_section("bench.lint_bench", "bench/lint_bench.py is not written yet."),
        ),
        "dry-run": (
            "Dry-run against a plain psql apply",
            _module_section("bench.dry_run_bench", "bench/dry_run_bench.py is missing."),
        ),
        "ephemeral": (
            "Ephemeral server",
            lambda: ephemeral_bench.render(ephemeral_bench.measure(args.repeat)),
        ),
        "fleet": (
            "Fleet",
            _module_section("bench.fleet_bench", "bench/fleet_bench.py is not written yet."),
        ),
        "zero-downtime": (
            "Zero-downtime load test",
            _module_section(
                "bench.zero_downtime",
                "bench/zero_downtime.py (naive SQL vs the planner's phases under load, see "
                "expand-contract.md) is not written yet.",
            ),
        ),
        "plan-corpus": (
            "Planner corpus under load",
            _module_section("bench.plan_corpus", "bench/plan_corpus.py is not written yet."),
        ),
        "large-files": (
            "Large files",
            _module_section("bench.large_files", "bench/large_files.py is missing."),
        ),
    }
    load_at_start = load_average()
    sections = [
        _section(title, body)
        if key not in args.skip
        else f"## {title}\n\nNot run: skipped with --skip {key}.\n"
        for key, (title, body) in bodies.items()
    ]
    facts = table(
        ["fact", "value"],
        [
            *[list(pair) for pair in machine_facts()],
            ["load average (1 min) at start / end", f"{load_at_start} / {load_average()}"],
        ],
        numeric=False,
    )
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = "\n".join(
        [
            "# Benchmarks",
            "",
            "Generated by `bench/run_all.py`; do not edit by hand. Every comparison is "
            "measured side by side in one run on one machine, the tools interleaved: these "
            "machines are shared and noisy (see the load average below), so absolute times "
            "drift between runs while the ratios hold better.",
            "",
            "To reproduce:",
            "",
            "```sh",
            "bash bench/install_peers.sh   # peers into bench/.tools/ (gitignored)",
            command,
            "```",
            "",
            f"Run on {today}.",
            "",
            "## Machine",
            "",
            facts,
            "",
            "## Versions",
            "",
            _versions_table(apply_results[0] if apply_results else None),
            "",
            *sections,
        ]
    )
    args.output.write_text(page)
    print(page)
    print(f"wrote {args.output}", file=sys.stderr)
    return page


def _progress(line: str) -> None:
    print(line, file=sys.stderr)


if __name__ == "__main__":
    main()
