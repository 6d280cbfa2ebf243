"""Commands of the plan layer: ``migrate plan``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from migrator.cli.context import AppContext

if TYPE_CHECKING:  # the plan and lint layers load only when `plan` runs
    from migrator.config import Settings
    from migrator.plan.planner import PlanResult

#: the lock_timeout written into planned migrations when the settings have none
DEFAULT_PLAN_LOCK_TIMEOUT_MS = 5000
#: the largest batch a backfill directive takes (migrator.source.backfill.MAX_BATCH_SIZE;
#: a test keeps the two equal, the command line does not import the source layer)
MAX_BATCH_SIZE = 2**63 - 1


@click.command("plan")
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option("--print", "print_only", is_flag=True, help="Show the plan; write nothing.")
@click.option(
    "--replace",
    is_flag=True,
    help="FILE is a pending migration: replace it by the plan (only if no database applied it).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=MAX_BATCH_SIZE),
    default=1000,
    show_default=True,
    metavar="N",
    help="Rows per backfill batch.",
)
@click.option(
    "--pause",
    default="20ms",
    show_default=True,
    metavar="DURATION",
    help="Sleep between backfill batches (e.g. 20ms, 1s).",
)
@click.pass_obj
def plan_command(
    app: AppContext, file: Path, print_only: bool, replace: bool, batch_size: int, pause: str
) -> None:
    """Plan a risky change as expand / backfill / contract migrations.

    FILE holds the SQL you mean (for example ALTER TABLE users RENAME COLUMN email TO
    email_address). The planner writes the phased migrations as the next versions in
    the migrations directory and prints the deploy sequence between them. Statements
    that are already safe pass through unchanged. No database is needed.

    \b
    Examples:
      migrate plan change.sql                 # write the phased migrations
      migrate plan change.sql --print         # show them, write nothing
      migrate plan database/migrations/007_rename.up.sql --replace

    Exit codes: 0 planned, 1 a change cannot be made safe (nothing written),
    2 usage error.
    """
    from migrator.durations import parse_duration_ms
    from migrator.plan.planner import plan_file, write_plan
    from migrator.plan.recipes.target import PlanOptions
    from migrator.plan.summary import describe

    settings = app.settings()
    options = PlanOptions(batch_size=batch_size, pause_ms=parse_duration_ms(pause, what="--pause"))
    result = plan_file(
        file,
        settings.migrations_dir,
        replace=replace,
        preview=print_only,
        lock_timeout_ms=settings.lock_timeout or DEFAULT_PLAN_LOCK_TIMEOUT_MS,
        options=options,
    )
    _refuse_what_lint_flags(result, settings)
    if not print_only:
        write_plan(result)
    click.echo(describe(result, written=not print_only, show_text=print_only))


def _refuse_what_lint_flags(result: PlanResult, settings: Settings) -> None:
    """Lint the migrations the plan would write, as ``migrate lint`` will once they
    exist: an error-level finding left means the planner has no safe form for that
    statement (it passed through as written). Refuse then (exit 1, nothing written)
    rather than write migrations the linter fails and call them safe."""
    from migrator.lint import configured_options
    from migrator.lint.findings import Severity
    from migrator.lint.prospective import lint_prospective
    from migrator.plan.model import CannotPlan

    report = lint_prospective(
        settings.migrations_dir,
        [(planned.path, planned.text) for planned in result.files],
        configured_options(settings),
        removed=result.replaced,
    )
    # a problem of the directory (a duplicate version, a bad name) is not one of the
    # planned statements: `migrate lint` and `migrate up` report it on their own
    errors = [
        f
        for f in report.findings
        if f.severity is Severity.ERROR and f.rule != "invalid-migration-file"
    ]
    if errors:
        raise CannotPlan(
            f"{result.source}: the planner has no safe form for what `migrate lint` "
            "would flag in the planned migrations",
            hint="nothing was written; change these statements by hand (the help says "
            "how), or write the migration yourself with a lint-ignore that says why",
            problems=[
                f"{finding.file}:{finding.line}: [{finding.rule}] {finding.message}; {finding.help}"
                for finding in errors
            ],
        )


COMMANDS: list[click.Command] = [plan_command]
