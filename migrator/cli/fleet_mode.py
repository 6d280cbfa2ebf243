"""``--targets FILE``: the run commands over a fleet of databases.

:func:`fleet_options` adds the fleet's flags to a command; :func:`fleet_of` says
whether this invocation runs on a fleet; :func:`run_over_fleet` reads the targets,
runs the command's job on each (:mod:`migrator.fleet.run`) and renders the outcome.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from migrator.cli.context import AppContext
from migrator.config import Settings
from migrator.errors import ExitCode, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def fleet_options(function: F) -> F:
    """``--targets``, ``--concurrency``, ``--canary``, ``--continue-on-error``, ``--shard``."""
    options = [
        click.option(
            "--targets",
            metavar="FILE",
            default=None,
            help="Run on every database in this TOML file ([[target]], [[discover]]; "
            "docs/fleet.md) [env MIGRATOR_TARGETS; targets in [tool.migrator]].",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1, max=256),
            metavar="N",
            default=4,
            show_default=True,
            help="With --targets: how many databases run at once.",
        ),
        click.option(
            "--canary",
            type=click.IntRange(min=0),
            metavar="N",
            default=0,
            help="With --targets: run the first N targets (file order) first; stop if any fails.",
        ),
        click.option(
            "--continue-on-error",
            is_flag=True,
            help="With --targets: keep starting targets after one fails (default: stop "
            "starting new ones; running ones finish).",
        ),
        click.option(
            "--shard",
            metavar="I/N",
            default=None,
            help="With --targets: only shard I of N (by a hash of each name), so N jobs "
            "cover the fleet exactly once.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@dataclass(frozen=True)
class FleetRequest:
    path: Path
    concurrency: int
    canary: int
    continue_on_error: bool
    shard: str | None


def fleet_of(settings: Settings, flags: dict[str, Any]) -> FleetRequest | None:
    """The fleet this command runs on, or ``None`` for one database.

    ``--targets`` always means a fleet (with ``--database-url`` too it is a usage
    error); ``targets`` from the environment or pyproject.toml does unless
    ``--database-url`` names one database on the command line."""
    given = flags.get("targets")
    url_flag = settings.origins.get("database_url") == "flag"
    if given is not None and url_flag:
        raise UsageError(
            "--targets and --database-url both say where to run",
            hint="give one: a targets file, or one database",
        )
    fleet_flags_used = flags.get("canary") or flags.get("continue_on_error") or flags.get("shard")
    if settings.targets is None or (given is None and url_flag):
        if fleet_flags_used:
            raise UsageError(
                "--canary, --continue-on-error and --shard need --targets",
                hint="name a targets file with --targets FILE (docs/fleet.md)",
            )
        return None
    return FleetRequest(
        path=settings.targets,
        concurrency=int(flags.get("concurrency") or 4),
        canary=int(flags.get("canary") or 0),
        continue_on_error=bool(flags.get("continue_on_error")),
        shard=flags.get("shard"),
    )


def run_over_fleet(
    app: AppContext,
    settings: Settings,
    request: FleetRequest,
    make_job: Callable[[Callable[[Any], Any]], Any],
    *,
    what: str,
    output_format: str = "text",
) -> None:
    """Run the job ``make_job(reporter_for)`` builds on every target of ``request``;
    print a line per target, then the summary (or JSON); exit with the fleet's code."""
    from migrator.aio import run
    from migrator.fleet.discover import failure_error, resolve_targets
    from migrator.fleet.jobs import TargetReporter
    from migrator.fleet.render import LineObserver, fleet_json, status_table, summary_lines
    from migrator.fleet.run import FleetOptions, failed_outcome, run_fleet
    from migrator.fleet.select import in_shard, parse_shard
    from migrator.fleet.targets import Target, load_targets_file
    from migrator.runner.flows import discovered_once

    shard = parse_shard(request.shard) if request.shard else None
    targets_file = load_targets_file(request.path)

    def reporter_for(target: Any) -> Any:
        return TargetReporter(target.name, verbose=app.verbose)

    job = make_job(reporter_for)
    options = FleetOptions(request.concurrency, request.canary, request.continue_on_error)
    as_json = output_format == "json"

    async def fleet() -> Any:
        targets, failures = await resolve_targets(targets_file, settings)
        chosen = in_shard(targets, shard)
        observer = LineObserver(len(chosen), out=sys.stderr if as_json else sys.stdout)
        try:
            result = await run_fleet(chosen, job, settings, options, observer)
        finally:
            observer.close()
        return result, failures

    # one discovery for every target; a directory problem stops before any target
    with discovered_once(settings):
        result, failures = run(fleet())
    if failures:  # a [[discover]] entry that could not list its databases
        from dataclasses import replace

        extra = tuple(
            failed_outcome(Target(f.label, f.url), failure_error(f), None) for f in failures
        )
        result = replace(result, outcomes=extra + result.outcomes)
    if as_json:
        click.echo(json.dumps(fleet_json(result), indent=2))
    else:
        if what == "status":
            click.echo("\n".join(status_table(result)))
        for line in summary_lines(result, what):
            click.echo(line)
    if result.interrupted:
        click.echo("interrupted", err=True)
    code = result.exit_code
    if code != ExitCode.OK:
        raise click.exceptions.Exit(int(code))
