"""Commands of the run layer: ``new``, ``up``, ``down``, ``status``, ``verify``,
``baseline``, ``repair``.

Each command parses its options, calls one function of :mod:`migrator.runner.flows`
(or :mod:`migrator.runner.scaffold`) and renders the result. The runner and asyncpg
are imported inside the command functions, so ``migrate lint`` never loads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from migrator.cli.context import AppContext
from migrator.cli.fleet_mode import fleet_of, fleet_options, run_over_fleet
from migrator.errors import ChecksFailed

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    from migrator.aio import run  # here: `migrate lint` and `--version` never need asyncio

    return run(coroutine)


def _run_reporting(run: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """``run(reporter)`` with the text reporter; interrupted (Ctrl-C, SIGTERM) inside a
    migration that commits as it goes, it first says where that migration stopped."""
    reporter = _reporter()
    try:
        return _run(run(reporter))
    except KeyboardInterrupt:
        reporter.interrupted()
        raise


def _reporter() -> Any:
    """The progress reporter of the commands: plain lines on stderr."""
    from migrator.runner.report import TextReporter

    return TextReporter()


def _timeout_options(function: F) -> F:
    """``--lock-timeout``, ``--statement-timeout``, ``--lock-retries``, ``--lock-wait``."""
    options = [
        click.option(
            "--lock-timeout",
            metavar="DURATION",
            help="lock_timeout per migration unless its file says otherwise "
            "(e.g. 2s, 500ms; 0 = none) [env MIGRATOR_LOCK_TIMEOUT; default 5s].",
        ),
        click.option(
            "--statement-timeout",
            metavar="DURATION",
            help="statement_timeout per migration unless its file says otherwise "
            "[env MIGRATOR_STATEMENT_TIMEOUT; default none].",
        ),
        click.option(
            "--lock-retries",
            metavar="N",
            help="retries of a migration that hit lock_timeout [env MIGRATOR_LOCK_RETRIES; "
            "default 5].",
        ),
        click.option(
            "--lock-wait",
            metavar="DURATION",
            help="how long to wait for another runner's migration lock "
            "[env MIGRATOR_LOCK_WAIT; default 60s].",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _flags(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _run_summary(result: Any, none_text: str) -> str:
    count = len(result.results)
    verb = "applied" if result.direction == "up" else "reverted"
    where = (
        f"now at version {result.current_version_shown}"
        if result.current_version is not None
        else "no migration applied"
    )
    if not count:
        return f"{none_text}; {where}"
    return f"{verb} {count} migration{'s' if count != 1 else ''}; {where}"


@click.command("new")
@click.argument("name")
@click.option(
    "--no-transaction",
    is_flag=True,
    help="Write `-- migrate:no-transaction` files (for CREATE INDEX CONCURRENTLY).",
)
@click.option(
    "--timestamp",
    is_flag=True,
    default=None,
    help="Version it with the UTC time (20261206153000) instead of the next number, so "
    'branches that each add a migration do not clash [versions = "timestamp" in '
    "[tool.migrator]; the migrations after a timestamped one are timestamped too].",
)
@click.pass_obj
def new_command(app: AppContext, name: str, no_transaction: bool, timestamp: bool | None) -> None:
    """Write the next-numbered up/down pair into the migrations directory.

    The version follows the files already there: 004 after 003, a UTC timestamp after
    14-digit versions, 001 in an empty directory; a UTC timestamp with --timestamp.

    \b
    Examples:
      migrate new add_users_table
      migrate new index_users_email --no-transaction
      migrate new add_orders --timestamp
    """
    from migrator.runner.scaffold import create_migration

    settings = app.settings(versions="timestamp" if timestamp else None)
    for path in create_migration(
        settings.migrations_dir,
        name,
        transactional=not no_transaction,
        layout=settings.layout,
        timestamp=settings.versions == "timestamp",
    ):
        click.echo(f"created {path}")


@click.command("up")
@click.option(
    "--to", "to", metavar="VERSION", help="Apply up to this version (as its file names it)."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue a failed or interrupted no-transaction migration at the statement "
    "where it stopped.",
)
@click.option(
    "--phase",
    type=click.Choice(["expand", "backfill", "contract"]),
    default=None,
    help="Apply pending migrations up to, not including, the first one of a later phase "
    "(-- migrate:phase; files without one count as expand).",
)
@click.option("--sql", is_flag=True, help="Print what would run; apply nothing.")
@click.option(
    "--strict/--no-strict",
    default=None,
    help="Refuse to run anything while an applied file changed or is gone, or a pending "
    "version is older than the newest applied [env MIGRATOR_STRICT; default: no].",
)
@_timeout_options
@fleet_options
@click.pass_obj
def up_command(
    app: AppContext,
    /,
    to: str | None,
    resume: bool,
    phase: str | None,
    sql: bool,
    strict: bool | None,
    lock_timeout: str | None,
    statement_timeout: str | None,
    lock_retries: str | None,
    lock_wait: str | None,
    **fleet: Any,
) -> None:
    """Apply pending migrations, oldest first, each in its own transaction with its
    ledger row (statement by statement for -- migrate:no-transaction files).

    A lock timeout rolls the migration back and retries it with backoff.

    \b
    Examples:
      migrate up                          # everything pending
      migrate up --to 005                 # up to and including version 5
      migrate up --sql                    # show the SQL and settings, run nothing
      migrate up --lock-timeout 2s --lock-retries 10
      migrate up --resume                 # continue a failed no-transaction migration
      migrate up --phase expand           # planner output: stop before backfill/contract
      migrate up --strict                 # refuse over drift or out-of-order versions
      migrate up --targets fleet.toml --concurrency 8   # every database of a fleet
    """
    from migrator.runner import flows
    from migrator.runner.report import TextReporter
    from migrator.runner.schedule import render_sql

    settings = app.settings(
        **_flags(
            lock_timeout=lock_timeout,
            statement_timeout=statement_timeout,
            lock_retries=lock_retries,
            lock_wait=lock_wait,
            strict=strict,
            targets=fleet["targets"],
        )
    )
    from migrator.source.model import PHASES

    options = flows.UpOptions(
        to=to, resume=resume, phase=next((p for p in PHASES if p == phase), None)
    )
    request = fleet_of(settings, fleet)
    if request is not None:
        from migrator.fleet import jobs

        make = jobs.pending_sql_job if sql else jobs.up_job
        run_over_fleet(
            app, settings, request, lambda r: make(options, r), what="up --sql" if sql else "up"
        )
        return
    if sql:
        click.echo(
            render_sql(_run(flows.pending_plan(settings, options, reporter=TextReporter()))),
            nl=False,
        )
        return
    result = _run_reporting(lambda reporter: flows.up(settings, options, reporter=reporter))
    click.echo(_run_summary(result, "nothing to apply"))


@click.command("down")
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    metavar="N",
    help="Revert the newest N migrations (refused when fewer are applied; --to 0: all).",
)
@click.option(
    "--to",
    "to",
    metavar="VERSION",
    help="Revert everything above VERSION (0: all but a version-0 migration).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue a failed or interrupted no-transaction revert where it stopped.",
)
@_timeout_options
@fleet_options
@click.pass_obj
def down_command(
    app: AppContext,
    /,
    steps: int | None,
    to: str | None,
    resume: bool,
    lock_timeout: str | None,
    statement_timeout: str | None,
    lock_retries: str | None,
    lock_wait: str | None,
    **fleet: Any,
) -> None:
    """Revert applied migrations, newest first (one by default).

    Refuses before reverting anything when a migration to revert is up-only or its
    file is gone.

    \b
    Examples:
      migrate down                # the newest applied migration
      migrate down --steps 3
      migrate down --to 0         # everything above version 0
    """
    from migrator.runner import flows

    settings = app.settings(
        **_flags(
            lock_timeout=lock_timeout,
            statement_timeout=statement_timeout,
            lock_retries=lock_retries,
            lock_wait=lock_wait,
            targets=fleet["targets"],
        )
    )
    options = flows.DownOptions(steps=steps, to=to, resume=resume)
    request = fleet_of(settings, fleet)
    if request is not None:
        from migrator.fleet.jobs import down_job

        run_over_fleet(app, settings, request, lambda r: down_job(options, r), what="down")
        return
    result = _run_reporting(lambda reporter: flows.down(settings, options, reporter=reporter))
    click.echo(_run_summary(result, "nothing to revert"))


_FORMAT = click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


@click.command("status")
@_FORMAT
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when the database is not up to date: a migration is pending, failed or partial.",
)
@click.option(
    "-v",
    "--verbose",
    "list_ignored",
    is_flag=True,
    help="Also list the directory entries that are not migrations "
    "(as `migrate -v status`, without its tracebacks).",
)
@fleet_options
@click.pass_obj
def status_command(
    app: AppContext, /, output_format: str, exit_code: bool, list_ignored: bool, **fleet: Any
) -> None:
    """Show every migration: applied, pending, drifted, failed, partial or missing
    file; when it was applied, how long it took, its phase. Changes nothing.

    \b
    Examples:
      migrate status
      migrate status --exit-code        # in a deploy: is the database up to date?
      migrate status -v                 # and the files the layout ignores
      migrate status --format json | jq '.migrations[] | select(.state == "pending")'
      migrate status --targets fleet.toml --format json   # {"targets": [...]}
    """
    from migrator.runner import flows
    from migrator.runner.status import render_table

    settings = app.settings(**_flags(targets=fleet["targets"]))
    request = fleet_of(settings, fleet)
    if request is not None:
        from migrator.fleet.jobs import status_job

        run_over_fleet(
            app,
            settings,
            request,
            lambda r: status_job(r, exit_code=exit_code),
            what="status",
            output_format=output_format,
        )
        return
    report = _run(flows.status(settings, reporter=_reporter()))
    if output_format == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_table(report, verbose=app.verbose or list_ignored), nl=False)
    if exit_code and not report.up_to_date:
        raise click.exceptions.Exit(int(ChecksFailed.exit_code))


@click.command("verify")
@_FORMAT
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Instead: check that the migrations, applied on the embedded PostgreSQL, build "
    "exactly the schema in this file (a `migrate schema dump` file). No database needed.",
)
@fleet_options
@click.pass_context
def verify_command(
    ctx: click.Context, /, output_format: str, schema_file: Path | None, **fleet: Any
) -> None:
    """Check the ledger against the files and the database: checksum drift, applied
    versions whose files are gone, pending versions older than the newest applied,
    failed or partial runs, INVALID indexes. Exit 1 on any problem.

    With --schema FILE, check instead that the migrations build exactly the committed
    schema (drift caught in CI); same as `migrate schema verify FILE`.

    \b
    Examples:
      migrate verify
      migrate verify --format json
      migrate verify --schema schema.sql
    """
    if schema_file is not None:
        from migrator.cli.rehearse_commands import schema_verify_command

        ctx.invoke(schema_verify_command, schema_file=schema_file)
        return
    app: AppContext = ctx.obj
    from migrator.runner import flows

    settings = app.settings(**_flags(targets=fleet["targets"]))
    request = fleet_of(settings, fleet)
    if request is not None:
        from migrator.fleet.jobs import verify_job

        run_over_fleet(
            app, settings, request, verify_job, what="verify", output_format=output_format
        )
        return
    report = _run(flows.verify(settings, reporter=_reporter()))
    if output_format == "json":
        payload = {
            "ok": report.ok,
            "problems": [problem.to_json() for problem in report.problems],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"{problem.kind}: {problem.message}")
        if report.ok:
            applied = report.status.count("applied")
            click.echo(f"ok: {applied} applied migration(s) match their files")
    if not report.ok:
        raise ChecksFailed(f"verify found {len(report.problems)} problem(s)")


@click.command("baseline")
@click.argument("version", required=False)
@click.option(
    "--from",
    "tool",
    type=click.Choice(
        ["dbmate", "golang-migrate", "goose", "flyway", "diesel", "sqlx"], case_sensitive=False
    ),
    help="Adopt what this tool's history table on the database says it applied.",
)
@click.option(
    "--from-table",
    metavar="[SCHEMA.]TABLE",
    help="The other tool's history table, when not its default name.",
)
@fleet_options
@click.pass_obj
def baseline_command(
    app: AppContext, /, version: str | None, tool: str | None, from_table: str | None, **fleet: Any
) -> None:
    """Adopt an existing database: record every migration up to VERSION, or every
    migration another tool's history table says it applied (--from TOOL), as applied
    without running it. Later `migrate up` runs only the rest.

    \b
    Examples:
      migrate baseline 003                # the schema of 001..003 already exists
      migrate baseline --from dbmate      # what dbmate's schema_migrations lists
      migrate baseline --from flyway --from-table app.flyway_schema_history
    """
    from migrator.errors import UsageError

    if (version is None) == (tool is None):
        raise UsageError("give either VERSION or --from TOOL", hint="see `migrate baseline --help`")
    if tool is not None:
        if fleet.get("targets"):
            raise UsageError("--from adopts one database at a time: drop --targets")
        _baseline_from(app, tool.lower(), from_table)
        return
    if from_table is not None:
        raise UsageError("--from-table goes with --from TOOL")
    from migrator.runner import flows

    assert version is not None
    settings = app.settings(**_flags(targets=fleet["targets"]))
    request = fleet_of(settings, fleet)
    if request is not None:
        from migrator.fleet.jobs import baseline_job

        run_over_fleet(app, settings, request, lambda r: baseline_job(version, r), what="baseline")
        return
    recorded = _run(flows.baseline(settings, version, reporter=_reporter()))
    if not recorded:
        click.echo(f"nothing to record: no unrecorded migration up to version {version}")
        return
    for migration in recorded:
        click.echo(f"recorded {migration.label} as applied (not run)")
    click.echo(f"baseline {version}: {len(recorded)} migration(s) recorded")


def _baseline_from(app: AppContext, tool: str, table: str | None) -> None:
    from migrator.runner.adopt import baseline_from

    adoption = _run(baseline_from(app.settings(), tool, table=table, reporter=_reporter()))
    for migration in adoption.adopted:
        click.echo(f"adopted {migration.label} (applied by {tool}; recorded, not run)")
    for migration in adoption.already:
        click.echo(f"already in the ledger: {migration.label}")
    for line in adoption.changed:
        click.echo(f"note: {line}")
    for what in adoption.unmatched:
        click.echo(f"not adopted: {tool} applied {what}, which no file here has")
    for migration in adoption.pending:
        click.echo(f"pending: {migration.label} ({tool} never applied it; `migrate up` will)")
    click.echo(
        f"baseline --from {tool} ({adoption.table}): {len(adoption.adopted)} migration(s) "
        f"adopted, {len(adoption.pending)} pending; {adoption.table} is left as it is"
    )


@click.command("repair")
@click.argument("version", required=False)
@click.option(
    "--mark-applied",
    is_flag=True,
    help="The failed migration's changes are all in place: record it as applied.",
)
@click.option(
    "--forget",
    is_flag=True,
    help="None of its changes are in place: remove its ledger row (counts as not applied).",
)
@click.option("--yes", is_flag=True, help="Apply the change (without it: only show it).")
@click.pass_obj
def repair_command(
    app: AppContext, version: str | None, mark_applied: bool, forget: bool, yes: bool
) -> None:
    """Fix the ledger after a human fixed the database: settle a failed or partial
    run (--mark-applied or --forget), or record new checksums of changed files.
    Shows the change; applies it only with --yes. Never changes the schema.

    \b
    Examples:
      migrate repair                        # show what would change
      migrate repair 004 --mark-applied --yes
      migrate repair 004 --forget --yes
    """
    from migrator.runner import flows

    if mark_applied and forget:
        raise click.UsageError("--mark-applied and --forget contradict each other: give one")
    choice = "mark-applied" if mark_applied else "forget" if forget else None
    result = _run(
        flows.repair(
            app.settings(),
            version=version,
            choice=choice,  # type: ignore[arg-type]  # click.Choice-like flag values
            apply=yes,
            reporter=_reporter(),
        )
    )
    for index in result.invalid_indexes:
        click.echo(f"note: {index.describe()}: drop it by hand with {index.drop_statement}")
    if not result.changes:
        click.echo("nothing to repair: the ledger has no failed run and no drift")
        return
    for change in result.changes:
        click.echo(f"{change.problem}")
        click.echo(f"  change: {change.change}")
    if result.applied:
        click.echo(f"repaired: {len(result.changes)} ledger change(s) applied")
    else:
        click.echo("nothing changed yet: run again with --yes to apply")


COMMANDS: list[click.Command] = [
    new_command,
    up_command,
    down_command,
    status_command,
    verify_command,
    baseline_command,
    repair_command,
]
