"""The planner's differential corpus under load: every change of
tests/plan/differential/cases (the planner's own cases, every case of issue 14, and
more), planned and proven against the naive SQL by the differential harness, with a
client timing every statement it sends while each migration runs.

Per change: planned or refused (with the reason), whether the end state equals the
naive SQL's (or, where the naive SQL fails, whether the plan failed as safely), the
client writes one copy refused and the other took, and the longest stall a client saw
while a migration ran (a read or a write, rolled back).

    python -m bench.plan_corpus                       # every case, seeds as written
    python -m bench.plan_corpus --cases rename-column,split-column-name

Loads go only to a throwaway server on 127.0.0.1; the seeds are the corpus's own
(a few hundred rows per table): this measures what the plan's steps make clients
wait for, not a rewrite of a large table (bench/zero_downtime.py does that).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from bench.report import table
from migrator.ephemeral import EphemeralServer
from tests.plan.differential.harness import Case, Outcome, Probe, corpus, open_findings, run_case


def _equal(outcome: Outcome) -> str:
    if outcome.verdict == "refused":
        return "-"
    if outcome.verdict == "equal":
        return "yes" + (f" ({outcome.raced} rows raced a data change)" if outcome.raced else "")
    if outcome.verdict == "both failed" and not outcome.problems:
        return "both fail, nothing lost"
    return f"NO: {outcome.problems[0][:120]}" if outcome.problems else outcome.verdict


def _row(outcome: Outcome, probe: Probe) -> list[str]:
    planned = (
        f"refused: {outcome.reason.split(': ', 1)[-1][:90]}"
        if outcome.verdict == "refused"
        else f"planned ({outcome.migrations} migrations)"
    )
    errors = f"{len(outcome.client_errors)} of {outcome.writes}" if outcome.writes else "-"
    stall = f"{probe.stall_ms:,.0f}" if probe.latencies else "-"
    return [outcome.case_id, planned, _equal(outcome), errors, stall]


async def _measure(
    server: EphemeralServer, cases: list[Case], still_open: set[str]
) -> list[list[str]]:
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        for name in ("bench_naive", "bench_planned"):
            await admin.execute(f"DROP DATABASE IF EXISTS {name}")
            await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    rows = []
    for case in cases:
        print(f"  {case.id}", file=sys.stderr)
        probe = Probe(server.dsn("bench_planned"))
        with tempfile.TemporaryDirectory() as workdir:
            outcome = await run_case(
                case, server.dsn("bench_naive"), server.dsn("bench_planned"), Path(workdir), probe
            )
        row = _row(outcome, probe)
        if case.id in still_open:
            row[0] += " (open finding)"
        rows.append(row)
    return rows


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=lambda text: set(text.split(",")), default=set())
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    everything = corpus() + open_findings()
    cases = [c for c in everything if not args.cases or c.id in args.cases]
    with EphemeralServer() as server:
        rows = asyncio.run(_measure(server, cases, {c.id for c in open_findings()}))
    planned = sum(1 for row in rows if row[1].startswith("planned"))
    good = sum(1 for row in rows if not row[2].startswith("NO"))
    text = "\n".join(
        [
            f"{len(rows)} changes of tests/plan/differential (cases/, and open/: the ones the "
            "planner does not pass yet), each on its own schema "
            "with a few hundred rows; the naive SQL on one database, the plan through the "
            "runner on another, old-version clients writing between every two migrations "
            "and backfill batches, new-version clients after the deploy point "
            '(docs/planner.md, "How plans are proven"); one more client timing every '
            "statement while each migration runs. Command: `python -m bench.plan_corpus`.",
            "",
            table(
                [
                    "change",
                    "planned or refused",
                    "equal to naive",
                    "client errors",
                    "longest stall (ms)",
                ],
                rows,
                numeric=False,
            ),
            "",
            f"{planned} planned, {len(rows) - planned} refused; {good} of {len(rows)} end "
            "as the naive SQL does (or fail as safely where it fails). Client errors are "
            "writes one copy took and the other refused (a refusal by both is not one). "
            "The stall is the longest single statement of the timing client: at these "
            "sizes it is the lock_timeout wait of a migration step at most.",
        ]
    )
    print(text)
    return text


if __name__ == "__main__":
    main()
