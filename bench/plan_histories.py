"""The planner on real histories: every migration of five public migration histories
(../shared/corpora: temporal_visibility, sourcegraph_codeintel, lemmy up to its 247th,
the last that PostgreSQL 15 applies; original/sqlx_svix-webhooks and
original/golang-migrate_pocket-id as their authors wrote them), planned as if it were
the next change, and proven against its naive SQL by the differential harness
(tests/plan/differential/harness.py).

For migration N: the schema is migrations 1..N-1, applied through the runner once,
incrementally, to a history database, and cloned per case (``CREATE DATABASE ...
TEMPLATE``); the rows are a generic filler's (bench/row_filler.py: a few rows per
table in foreign-key order; a table it cannot fill stays empty and is counted); the
change is migration N's up file. The naive SQL runs on one clone, the plan phase by
phase on the other, with old- and new-version clients writing, every row compared.

    python -m bench.plan_histories                          # all five histories
    python -m bench.plan_histories --corpus lemmy --only 20-40 --details /tmp/d.json
    python -m bench.plan_histories --merge /tmp/a.json /tmp/d.json   # report ranges run apart

Each case is classified: passed through (every statement safe as written, one
migration: the runner would run the naive SQL itself, so no database runs it), planned
and equal, refused (exit 1, by reason), unusable
(exit 2: the planner rejects the file as input), both failed (the naive SQL fails on
these rows and the plan fails no later, nothing lost), PROBLEM (the harness found a
difference: data lost or changed, half-applied, a wrong end state), crash (an
exception that is not a migrator error, in the planner or the runner), timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg

from bench.report import table
from bench.row_filler import fill
from migrator.cli.plan_commands import _refuse_what_lint_flags as refuse_what_lint_flags
from migrator.config import Settings
from migrator.ephemeral import EphemeralServer
from migrator.errors import MigratorError
from migrator.plan.model import CannotPlan
from migrator.plan.planner import PlanResult
from migrator.runner.flows import UpOptions, up
from tests.plan.differential.harness import Case, plan_case, run_case

CORPORA_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpora"
#: corpus: how many of its migrations PostgreSQL 15 applies (None: all)
CORPORA: dict[str, int | None] = {
    "temporal_visibility": None,
    "sourcegraph_codeintel": None,
    "lemmy": 247,
    # two histories of corpora/original/ in a layout the planner writes (the others:
    # diesel, goose, flyway, are refused by `migrate plan` as a whole directory)
    "original/sqlx_svix-webhooks": None,
    "original/golang-migrate_pocket-id": None,
}
#: what the applications set in every session: sourcegraph's tenant_id columns default
#: to current_setting('app.current_tenant') (tenant 1 is the one its migrations make)
SERVER_SETTINGS = {"app.current_tenant": "1"}
#: seconds one case may take
TIMEOUT = 150
_VERSION = re.compile(r"^(\d+)_")
KINDS = (
    "passed through",
    "equal",
    "refused",
    "unusable",
    "both failed",
    "PROBLEM",
    "crash",
    "timeout",
)


@dataclass
class Result:
    corpus: str
    file: str
    kind: str = ""
    reason: str = ""
    problems: list[str] = field(default_factory=list)
    migrations: int = 0
    writes: int = 0
    empty_tables: int = 0
    tables: int = 0
    seconds: float = 0.0


def migrations(directory: Path) -> list[tuple[int, list[Path]]]:
    """The migrations of a corpus in order: version and files (up, down)."""
    by_version: dict[int, list[Path]] = {}
    for path in sorted(directory.glob("*.sql")):
        if match := _VERSION.match(path.name):
            by_version.setdefault(int(match.group(1)), []).append(path)
    return sorted(by_version.items())


def up_file(files: list[Path]) -> Path:
    return next(p for p in files if not p.name.endswith(".down.sql"))


def reason_kind(reason: str) -> str:
    """A refusal's reason without the file, line and names: what the histogram counts."""
    if rule := re.search(r"in the planned migrations: \S+:\d+: (\[[\w-]+\])", reason):
        return f"`migrate lint` would flag {rule.group(1)} in the planned files"
    text = re.sub(r"^\S*change\.sql(:\d+:)?\s*", "", reason)
    text = re.sub(r"`[^`]*`|\"[^\"]*\"|'[^']*'", "X", text)
    text = re.sub(r"\b\w+\.\w+\b", "X", text)
    text = re.sub(r"\b\d+\b", "N", text)
    return text[:110]


def _crash_place(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    place = next(
        (f for f in reversed(frames) if "/migrator/" in f.filename),
        frames[-1] if frames else None,
    )
    where = f" at {Path(place.filename).name}:{place.lineno}" if place else ""
    planning = any(f.name == "plan_case" for f in frames)
    return f"{'planner' if planning else 'harness/runner'}: {type(exc).__name__}{where}: {exc}"


#: the index a plan builds for a foreign key (docs/planner.md, "ADD FOREIGN KEY")
_FOREIGN_KEY_INDEX = re.compile(r"CREATE INDEX CONCURRENTLY IF NOT EXISTS (\S+) ON ")


def made_up_indexes(result: PlanResult) -> frozenset[tuple[str, str]]:
    """The indexes the plan adds on purpose, which the naive SQL does not: one on the
    referencing columns of each foreign key it adds (what a case of the corpus names
    in ``planned_extra``)."""
    return frozenset(
        ("index", f"public.{match.group(1)}")
        for change in result.plan.changes
        if change.recipe == "add foreign key"
        for step in change.steps
        if (match := _FOREIGN_KEY_INDEX.match(step.sql))
    )


def _planned_as_written(case: Case, result: Result) -> Case | None:
    """Plan ``case`` alone (pure, no database): the case to run on the databases
    (with the indexes the plan adds on purpose), or None. A refusal, a rejected file
    or a crash is classified here; a plan whose every statement passes through
    unchanged in one migration is ``passed through``: the runner would run the naive
    SQL itself, nothing is left to compare."""
    try:
        with tempfile.TemporaryDirectory() as workdir:
            directory, planned = plan_case(case, Path(workdir))
            # `migrate plan` refuses what the linter flags in the planned files (the
            # harness, planning through the planner's API, does not)
            refuse_what_lint_flags(planned, Settings(migrations_dir=directory))
    except CannotPlan as exc:
        result.kind = "unusable" if exc.exit_code == 2 else "refused"
        result.reason = exc.one_line()
    except MigratorError as exc:
        result.kind, result.reason = "unusable", f"exit {int(exc.exit_code)}: {exc.one_line()}"
    except Exception as exc:  # a crash: what this counts
        result.kind, result.reason = "crash", _crash_place(exc)
    else:
        result.migrations = len(planned.versions)
        if planned.plan.all_safe_already:
            result.kind = "passed through"
        else:
            return dataclasses.replace(case, planned_extra=made_up_indexes(planned))
    return None


async def _case(
    admin: asyncpg.Connection,
    server: EphemeralServer,
    result: Result,
    change: Path,
    history: tuple[Path, ...],
) -> None:
    case = Case(
        id=f"{result.corpus}/{result.file}",
        schema="",
        seed="SELECT 1",  # the rows are in both clones already
        change=change.read_text(),
        history=history,
    )
    began = time.monotonic()
    planned_case = _planned_as_written(case, result)
    if planned_case is None:
        result.seconds = time.monotonic() - began
        return
    names = {"seed": "hist_seed", "naive": "hist_naive", "planned": "hist_planned"}
    await admin.execute(f"CREATE DATABASE {names['seed']} TEMPLATE hist")
    seed = await asyncpg.connect(server.dsn(names["seed"]))
    try:
        filled = await fill(seed)
    finally:
        await seed.close()
    result.tables, result.empty_tables = filled.tables, len(filled.empty)
    for side in ("naive", "planned"):
        await admin.execute(f"CREATE DATABASE {names[side]} TEMPLATE {names['seed']}")
    await admin.execute(f"DROP DATABASE {names['seed']}")
    try:
        with tempfile.TemporaryDirectory() as workdir:
            outcome = await asyncio.wait_for(
                run_case(
                    planned_case,
                    server.dsn(names["naive"]),
                    server.dsn(names["planned"]),
                    Path(workdir),
                ),
                TIMEOUT,
            )
    except TimeoutError:
        result.kind = "timeout"
    except Exception as exc:  # a crash: what this counts
        result.kind, result.reason = "crash", _crash_place(exc)
    else:
        result.migrations, result.writes = outcome.migrations, outcome.writes
        result.problems = outcome.problems
        result.reason = outcome.reason
        if outcome.problems:
            result.kind = "PROBLEM"
            result.reason = f"{outcome.verdict}: {outcome.reason}".rstrip(": ")
        elif outcome.verdict == "both failed":
            result.kind = "both failed"
        else:
            result.kind = "equal"
    finally:
        result.seconds = time.monotonic() - began
        for side in ("naive", "planned"):
            await admin.execute(f"DROP DATABASE IF EXISTS {names[side]} WITH (FORCE)")


async def _corpus(
    server: EphemeralServer, corpus: str, only: range | None, log: Path | None
) -> list[Result]:
    directory = CORPORA_DIR / corpus
    steps = migrations(directory)[: CORPORA[corpus]]
    admin = await asyncpg.connect(server.dsn("postgres"))
    results: list[Result] = []
    try:
        await admin.execute("DROP DATABASE IF EXISTS hist WITH (FORCE)")
        await admin.execute("CREATE DATABASE hist")
        with tempfile.TemporaryDirectory() as history_dir:
            applied = Path(history_dir)
            settings = Settings(migrations_dir=applied, database_url=server.dsn("hist"))
            for index, (version, files) in enumerate(steps):
                change = up_file(files)
                if index and (only is None or index + 1 in only):
                    result = Result(corpus, change.name)
                    print(f"  {corpus}/{change.name}", end="", file=sys.stderr, flush=True)
                    await _case(admin, server, result, change, tuple(sorted(applied.iterdir())))
                    print(f": {result.kind} ({result.seconds:.1f}s)", file=sys.stderr)
                    results.append(result)
                    if log is not None:
                        log.write_text(json.dumps([asdict(r) for r in results], indent=1))
                if only is not None and index + 2 > only.stop:
                    break
                for path in files:
                    shutil.copyfile(path, applied / path.name)
                await up(settings, UpOptions(to=version))
    finally:
        await admin.close()
    return results


def tally(corpus: str, results: list[Result]) -> list[str]:
    counts = Counter(r.kind for r in results)
    empty = sum(r.empty_tables for r in results)
    tables = sum(r.tables for r in results)
    return [
        corpus,
        str(len(results)),
        *(str(counts[kind]) for kind in KINDS),
        f"{empty} of {tables}",
    ]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA))
    parser.add_argument(
        "--only",
        type=lambda text: range(int(text.split("-")[0]), int(text.split("-")[-1]) + 1),
        help="migration numbers N (1-based), e.g. 20-40",
    )
    parser.add_argument("--details", type=Path, help="write every case's result as JSON")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="run nothing: report the results of --details files (ranges run apart)",
    )
    return parser.parse_args(argv)


def merged(paths: Sequence[Path]) -> dict[str, list[Result]]:
    """The results of several ``--details`` files by corpus (a case in two: the last)."""
    cases: dict[tuple[str, str], Result] = {}
    for path in paths:
        for data in json.loads(path.read_text()):
            result = Result(**data)
            cases[(result.corpus, result.file)] = result
    return {
        corpus: sorted((r for r in cases.values() if r.corpus == corpus), key=lambda r: r.file)
        for corpus in CORPORA
        if any(r.corpus == corpus for r in cases.values())
    }


def report(by_corpus: dict[str, list[Result]]) -> str:
    everything = [r for results in by_corpus.values() for r in results]
    reasons = Counter(reason_kind(r.reason) for r in everything if r.kind == "refused")
    unusable = Counter(reason_kind(r.reason) for r in everything if r.kind == "unusable")
    bad = [r for r in everything if r.kind in {"PROBLEM", "crash", "timeout"}]
    lines = [
        table(
            ["corpus", "cases", *KINDS, "tables left empty (cases x tables)"],
            [
                *(tally(name, results) for name, results in by_corpus.items()),
                tally("all", everything),
            ],
        ),
        "",
        "Refusals by reason (names and numbers elided):",
        "",
        table(["reason", "cases"], [[k, str(n)] for k, n in reasons.most_common()]),
    ]
    if unusable:
        lines += [
            "",
            "Rejected as input (exit 2):",
            "",
            table(["reason", "cases"], [[k, str(n)] for k, n in unusable.most_common()]),
        ]
    if bad:
        lines += ["", "PROBLEM, crash, timeout:", ""]
        lines += [
            f"- {r.corpus}/{r.file}: {r.kind} {r.reason[:120]}: {(r.problems or [''])[0][:160]}"
            for r in bad
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    if args.merge:
        by_corpus = merged(args.merge)
    else:
        by_corpus = {}
        with EphemeralServer(settings=SERVER_SETTINGS) as server:
            for corpus in args.corpus or list(CORPORA):
                by_corpus[corpus] = asyncio.run(_corpus(server, corpus, args.only, args.details))
        if args.details is not None:
            everything = [asdict(r) for results in by_corpus.values() for r in results]
            args.details.write_text(json.dumps(everything, indent=1))
    text = report(by_corpus)
    print(text)
    return text


if __name__ == "__main__":
    main()
