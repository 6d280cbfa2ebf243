"""Commands of the rehearse layer: ``dry-run`` and ``schema dump`` / ``schema verify``.

Each parses its options, calls one function of :mod:`migrator.rehearse` or
:mod:`migrator.schema`, and renders the result. Heavy imports happen inside the
commands, so ``migrate lint`` never loads asyncpg.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from migrator.cli.context import AppContext
from migrator.dsn import mask_text
from migrator.errors import ChecksFailed, UsageError

_FORMATS = click.Choice(["text", "json", "markdown"])


def _server_url(app: AppContext, local: str | None) -> str | None:
    """The server a rehearsal may create a throwaway database on: ``--database-url``
    given on the command line (before or after the command name). ``DATABASE_URL`` in
    the environment is the application's database and is never used for rehearsals."""
    if local:
        return local
    flagged = app.flags.get("database_url")
    return str(flagged) if flagged else None


def _check_output(output: str | None) -> None:
    """Refuse an ``--output`` that cannot be written before any work starts."""
    if not output:
        return
    path = Path(output)
    parent = path.parent
    if path.is_dir():
        raise UsageError(f"--output {output} is a directory", hint="give a file path")
    if not parent.is_dir():
        raise UsageError(
            f"--output {output}: directory {parent} does not exist",
            hint="create it first, or choose another path",
        )
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise UsageError(f"--output {output} is not writable", hint="choose another path")


def _write(text: str, output: str | None) -> None:
    """``text`` ending in exactly one newline, to ``output`` or stdout (the same bytes,
    passwords masked as on the terminal)."""
    text = mask_text(text if text.endswith("\n") else text + "\n")
    if not output:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def _parse_report(value: str) -> tuple[str, str]:
    """``json:dry-run.json`` -> ``("json", "dry-run.json")``, the file checked writable."""
    report_format, _, path = value.partition(":")
    if report_format not in _FORMATS.choices or not path:
        raise UsageError(
            f"--report {value}: expected FORMAT:FILE",
            hint=f"FORMAT is one of {', '.join(_FORMATS.choices)}, e.g. --report json:dry-run.json",
        )
    _check_output(path)
    return report_format, path


@click.command("dry-run")
@click.option(
    "--database-url",
    "database_url",
    metavar="URL",
    help="Rehearse on this server instead of the embedded one: a throwaway database is "
    "created there and dropped afterwards, with the roles the migrations created (needs "
    "CREATEDB; an existing database is never touched).",
)
@click.option(
    "--from-schema",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Start from this schema (a `migrate schema dump` file or `pg_dump --schema-only` "
    "output) and rehearse only the migrations it does not contain yet.",
)
@click.option(
    "--applied-through",
    type=int,
    metavar="VERSION",
    help="With --from-schema: the file contains migrations up to VERSION "
    "(default: the versions the file records).",
)
@click.option(
    "--seed-rows",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Fill every empty table with N synthetic rows before each migration.",
)
@click.option("--no-lint", is_flag=True, help="Do not run the linter first.")
@click.option(
    "--format",
    "output_format",
    type=_FORMATS,
    default="text",
    show_default=True,
    help="The report's format: text for a terminal or a CI log, json for machines, "
    "markdown for a pull-request comment.",
)
@click.option("--output", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option(
    "--report",
    "reports",
    metavar="FORMAT:FILE",
    multiple=True,
    help="Also write the same run's report in FORMAT to FILE (repeatable), e.g. "
    "--report json:dry-run.json next to --format markdown --output dry-run.md.",
)
@click.pass_obj
def dry_run_command(
    app: AppContext,
    database_url: str | None,
    from_schema: Path | None,
    applied_through: int | None,
    seed_rows: int,
    no_lint: bool,
    output_format: str,
    output: str | None,
    reports: tuple[str, ...],
) -> None:
    """Rehearse every pending migration on a throwaway PostgreSQL.

    Lints the migrations, starts an embedded PostgreSQL (removed afterwards, also on
    Ctrl-C), and for each migration: applies it, reverts it, checks the schema is back
    to what it was, and applies it again; reports its duration, the locks it held on
    tables that existed before it, the tables it rewrote and any INVALID index left.

    \b
    Examples:
      migrate dry-run
      migrate dry-run --seed-rows 1000 --format markdown --output dry-run.md
      migrate dry-run --from-schema schema.sql --applied-through 41
      migrate dry-run --format markdown --output dry-run.md --report json:dry-run.json

    Each migration's result is printed as soon as it is done (with --format json or
    markdown, or --output, its one-line result goes to stderr and the report comes at
    the end); on a terminal a status line shows the migration being rehearsed.

    Exit codes: 0 every migration applied, reverted and round-tripped; 1 a migration
    failed to apply, revert or round-trip, or the linter found an error; 2 usage or
    bad migration files; 3 PostgreSQL could not be started or reached; 130 interrupted.
    """
    from migrator.rehearse.engine import RehearsalOptions, rehearse
    from migrator.rehearse.live import LiveReport
    from migrator.rehearse.render import RENDERERS, summary_line

    _check_output(output)
    extra_reports = [_parse_report(report) for report in reports]
    settings = app.settings()
    options = RehearsalOptions(
        server_url=_server_url(app, database_url),
        from_schema=from_schema,
        applied_through=applied_through,
        seed_rows=seed_rows,
        lint=not no_lint,
    )
    streamed = output_format == "text" and not output  # the text report itself, live
    live = LiveReport(
        sys.stdout if streamed else sys.stderr,
        detailed=streamed,
        status=sys.stderr,
        schema_file=str(from_schema) if from_schema else None,
        seed_rows=seed_rows,
    )
    try:
        report = rehearse(settings, options, live)
    finally:
        live.close()
    _write(summary_line(report) if streamed else RENDERERS[output_format](report), output)
    for report_format, path in extra_reports:
        _write(RENDERERS[report_format](report), path)
    if not report.ok:
        raise ChecksFailed(
            f"dry-run failed: {len(report.failures)} migration(s) failed"
            + (f", {len(report.lint.errors)} lint error(s)" if report.lint.errors else ""),
            hint="see the report above",
        )


@click.group("schema")
def schema_group() -> None:
    """Schema files: dump a database's schema, verify the migrations against one.

    \b
    Examples:
      migrate schema dump --output schema.sql     # the database's schema, normalised
      migrate schema verify schema.sql            # do the migrations build exactly this?
    """


@schema_group.command("dump")
@click.option("--output", metavar="FILE", help="Write to FILE (e.g. schema.sql) instead of stdout.")
@click.option(
    "--from-migrations",
    is_flag=True,
    help="Dump the schema the migrations build, on the embedded PostgreSQL, instead of "
    "the database of --database-url / DATABASE_URL.",
)
@click.pass_obj
def schema_dump_command(app: AppContext, output: str | None, from_migrations: bool) -> None:
    """Write a deterministic, normalised schema of the database.

    Stable order, no server-version comments, no random \\restrict keys, no owners;
    the migrator's ledger tables are left out and the versions they record go into a
    header line (used by `dry-run --from-schema`). The file loads again with psql.

    \b
    Examples:
      migrate schema dump --output schema.sql
      migrate schema dump --from-migrations --output schema.sql
    """
    from migrator.rehearse.schema_checks import dump_database, dump_migrations

    _check_output(output)
    settings = app.settings()
    text = dump_migrations(settings) if from_migrations else dump_database(settings)
    _write(text, output)


@schema_group.command("verify")
@click.argument("schema_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def schema_verify_command(app: AppContext, schema_file: Path) -> None:
    """Check that the migrations build exactly the schema in SCHEMA_FILE.

    Applies every migration on the embedded PostgreSQL, loads SCHEMA_FILE into a
    second throwaway database, and compares the two catalogs (not the text, so
    formatting never counts). Prints the differences; exit 1 when there are any.

    \b
    Example:
      migrate schema verify schema.sql
    """
    from migrator.rehearse.schema_checks import verify_schema_file

    settings = app.settings()
    differences = verify_schema_file(settings, schema_file)
    if differences:
        for line in differences:
            click.echo(line)
        raise ChecksFailed(
            f"the migrations do not build the schema in {schema_file}: "
            f"{len(differences)} difference(s)",
            hint="regenerate it with `migrate schema dump --from-migrations --output "
            f"{schema_file}` if the migrations are right",
        )
    click.echo(f"the migrations build exactly the schema in {schema_file}")


COMMANDS: list[click.Command] = [dry_run_command, schema_group]
