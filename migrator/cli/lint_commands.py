"""Commands of the lint layer: ``lint`` and ``rules``.

The lint package is imported inside each command, so ``migrate up`` never pays for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from migrator.cli.context import AppContext
from migrator.errors import ChecksFailed, UsageError

_FORMATS = ("text", "json", "github", "sarif", "gitlab")


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(_FORMATS),
    default="text",
    show_default=True,
    help="Output format (github: Actions annotations; gitlab: Code Quality report).",
)
@click.option(
    "--pg-version",
    type=int,
    default=None,
    metavar="MAJOR",
    help="Target PostgreSQL major version [default: 15, or pg_version in "
    "[tool.migrator.lint], or the server's with --database-url].",
)
@click.option("--include", multiple=True, metavar="RULE", help="Run only these rules.")
@click.option("--exclude", multiple=True, metavar="RULE", help="Do not run these rules.")
@click.option(
    "--severity",
    multiple=True,
    metavar="RULE=LEVEL",
    help="Override a severity (error, warning, off).",
)
@click.option(
    "--stdin-filename",
    metavar="NAME",
    default="stdin.sql",
    show_default=True,
    help="With PATH '-': the name SQL read from standard input is shown under.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither read nor write the lint cache (~/.cache/migrator, or $MIGRATOR_CACHE_DIR).",
)
@click.pass_obj
def lint(
    app: AppContext,
    paths: tuple[Path, ...],
    output_format: str,
    pg_version: int | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    severity: tuple[str, ...],
    stdin_filename: str,
    no_cache: bool,
) -> None:
    """Lint migrations for locks, rewrites, breaking changes and secrets.

    With no PATH, lints every migration in the migrations directory. Each file is
    linted against the schema that the migrations before it built. PATH '-' reads SQL
    from standard input and lints it on its own (e.g. an ORM's generated SQL). With the global
    --database-url (the flag only: DATABASE_URL is not used here, so a shell that sets it
    does not make every lint connect), live facts (server version, row estimates, column
    types) are read.
    Findings and replayed schemas are cached in ~/.cache/migrator (a file is linted
    again only when it, an earlier up file, the options or migrator change).

    \b
    Examples:
      migrate lint
      migrate lint database/migrations/0042_add_index.up.sql
      migrate lint --format sarif > migrator.sarif
      python manage.py sqlmigrate app 0042 | migrate lint -
      migrate --database-url "$DATABASE_URL" lint --format github

    Exit codes: 0 no error-level finding, 1 error-level findings, 2 usage error.
    """
    from migrator.lint import run_lint
    from migrator.lint.render import render

    settings = app.settings()
    stdin = None
    if Path("-") in paths:
        stdin = (stdin_filename, sys.stdin.buffer.read())
        paths = tuple(path for path in paths if path != Path("-"))
    report = run_lint(
        settings,
        paths,
        pg_version=pg_version,
        include=include,
        exclude=exclude,
        severity=severity,
        database_url=app.flags.get("database_url"),
        cache=not no_cache,
        stdin=stdin,
    )
    colour = output_format == "text" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    _write_report(render(report, output_format, colour=colour))
    for problem in report.internal_errors:
        click.echo(f"warning: {problem}", err=True)
    if report.errors:
        raise click.exceptions.Exit(int(ChecksFailed.exit_code))


def _write_report(text: str) -> None:
    """Write the report; a reader that went away (``| head``) is no error, but output
    that cannot be written (disk full) must not pass for a report with findings."""
    try:
        click.echo(text, nl=False)
        sys.stdout.flush()
    except BrokenPipeError:
        # nobody reads the rest; keep the interpreter from failing on the final flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:
        raise UsageError(
            f"cannot write the lint report to standard output: {exc.strerror or exc}",
            hint="check where the output goes (disk full? closed?)",
        ) from None


@click.command("rules")
@click.argument("rule_id", required=False, metavar="[RULE]")
@click.option(
    "--write-docs",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write docs/rules/<id>.md for every rule into this directory.",
)
def rules(rule_id: str | None, write_docs: Path | None) -> None:
    """List the lint rules, or explain one.

    \b
    Examples:
      migrate rules
      migrate rules index-not-concurrent
      migrate rules --write-docs docs/rules
    """
    from migrator.lint.docs import rule_text, write_rule_docs
    from migrator.lint.registry import RULES, get_rule

    if write_docs is not None and rule_id is not None:
        raise UsageError("give either a RULE or --write-docs, not both")
    if write_docs is not None:
        written = write_rule_docs(write_docs)
        click.echo(f"wrote {len(written)} files to {write_docs}")
        return
    if rule_id is not None:
        rule = get_rule(rule_id)
        if rule is None:
            raise UsageError(f"no rule {rule_id!r}", hint="run `migrate rules` for the list")
        click.echo(rule_text(rule), nl=False)
        return
    width = max(len(r.id) for r in RULES)
    for rule in RULES:
        marker = " (plannable)" if rule.plannable else ""
        click.echo(f"{rule.id:<{width}}  {rule.severity.value:<7}  {rule.summary}{marker}")


COMMANDS: list[click.Command] = [lint, rules]
