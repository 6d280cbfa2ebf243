"""The ``migrate`` command line: thin click commands around one function each.

Errors are mapped to exit codes here and nowhere else (:func:`main`): users see one
line, and a traceback only with ``--verbose``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from types import FrameType

import click

from migrator import __version__
from migrator.cli.context import AppContext
from migrator.cli.lazy_group import LazyGroup
from migrator.dsn import masked_output, register_dsn_secrets, register_secret
from migrator.errors import ExitCode, MigratorError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _set_global_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None and param.name:
        ctx.ensure_object(AppContext).flags[param.name.removeprefix("global_")] = value


#: the global options, also accepted after the command name (``migrate up --dir x``)
_GLOBAL_OPTIONS = (
    ("migrations_dir", "--dir", "PATH", "Migrations directory (same as before the command)."),
    ("layout", "--layout", "NAME", "Layout of the directory (same as before the command)."),
    ("database_url", "--database-url", "URL", "PostgreSQL URL (same as before the command)."),
    ("wait", "--wait", "DURATION", "Keep trying to connect this long (same as before it)."),
)


#: commands that never connect to a database: after their name they take ``--dir`` and
#: ``--layout``, not ``--database-url`` / ``--wait`` (which would do nothing there)
_OFFLINE_COMMANDS = frozenset({"new", "rules", "plan", "schema verify"})
_CONNECTION_OPTIONS = frozenset({"database_url", "wait"})


def _accept_global_options(command: click.Command, path: str = "") -> None:
    """Let ``command`` (and the commands of a group) take ``--dir``, ``--layout``,
    ``--database-url`` and ``--wait`` after its name, unless it defines an option of that
    name; an offline command does not take the connection options."""
    path = f"{path} {command.name}".strip()
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_global_options(sub, path)
        return
    own = {param.name for param in command.params}
    for name, flag, metavar, help_text in _GLOBAL_OPTIONS:
        if name in own or any(flag in param.opts for param in command.params):
            continue
        if path in _OFFLINE_COMMANDS and name in _CONNECTION_OPTIONS:
            continue
        command.params.append(
            click.Option(
                [flag, f"global_{name}"],
                metavar=metavar,
                default=None,
                expose_value=False,
                callback=_set_global_flag,
                help=help_text,
            )
        )


#: the module that defines each command (in its ``COMMANDS``): imported only when the
#: command runs, so ``migrate lint`` never builds the options of ``up`` or ``plan``
COMMAND_MODULES = {
    **dict.fromkeys(
        ("new", "up", "down", "status", "verify", "baseline", "repair"),
        "migrator.cli.run_commands",
    ),
    **dict.fromkeys(("lint", "rules"), "migrator.cli.lint_commands"),
    "plan": "migrator.cli.plan_commands",
    **dict.fromkeys(("dry-run", "schema"), "migrator.cli.rehearse_commands"),
}


@click.group(
    cls=LazyGroup,
    modules=COMMAND_MODULES,
    prepare=_accept_global_options,
    context_settings=CONTEXT_SETTINGS,
)
@click.option(
    "--dir",
    "migrations_dir",
    metavar="PATH",
    default=None,
    help="Migrations directory [env MIGRATOR_DIR; default database/migrations].",
)
@click.option(
    "--layout",
    metavar="NAME",
    default=None,
    help="Layout of the migrations directory: auto, migrator, golang-migrate, sqlx, dbmate, "
    "goose, flyway, diesel [env MIGRATOR_LAYOUT; default auto: detected].",
)
@click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="PostgreSQL URL [env DATABASE_URL, or libpq's PG* variables].",
)
@click.option(
    "--wait",
    metavar="DURATION",
    default=None,
    help="Keep trying to connect for up to DURATION while the server is not up yet "
    "(e.g. 30s) [env MIGRATOR_WAIT; default 0: fail at once].",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug detail.")
@click.version_option(__version__, "-V", "--version", prog_name="migrate")
@click.pass_context
def cli(
    ctx: click.Context,
    migrations_dir: str | None,
    layout: str | None,
    database_url: str | None,
    wait: str | None,
    verbose: bool,
) -> None:
    """PostgreSQL migrations: run, lint, plan and rehearse.

    \b
    Examples:
      migrate new add_users            # write the next up/down pair
      migrate up                       # apply pending migrations
      migrate status                   # what is applied, pending, drifted
      migrate lint                     # safety linter, no database needed
      migrate dry-run                  # rehearse on a throwaway PostgreSQL

    Exit codes: 0 ok, 1 findings or failed checks, 2 usage or configuration error,
    3 cannot connect or cannot get the lock, 4 a migration failed, 70 internal error
    (a bug: please report it), 130 interrupted.
    """
    app = ctx.ensure_object(AppContext)  # main's: its errors' tracebacks follow --verbose
    app.flags.update(
        {
            "migrations_dir": migrations_dir,
            "layout": layout,
            "database_url": database_url,
            "wait": wait,
        }
    )
    app.verbose = verbose


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a cancelled CI job, Kubernetes stopping a pod) is handled exactly as
    Ctrl-C: the running migration rolls back, ``interrupted``, exit 130. The current
    SIGINT handler does it (asyncio's while a run is under way), even where SIGINT
    itself is ignored, as in a background job."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def _one_line(text: str, width: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _os_error_text(exc: OSError) -> str:
    """``path: reason`` of an ``OSError`` (``reason`` alone when it names no file)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``migrate`` console script. Everything it prints goes through
    :func:`migrator.dsn.masked_output`: no password reaches the terminal, whatever the
    path (result, error, ``--verbose`` traceback)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    for text in (*arguments, os.environ.get("DATABASE_URL")):
        register_dsn_secrets(text)
    register_secret(os.environ.get("PGPASSWORD"))
    with masked_output():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    app = AppContext()  # the global --verbose, once parsed, turns tracebacks on
    if (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        and threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    try:
        code = cli.main(args=argv, prog_name="migrate", standalone_mode=False, obj=app)
    except MigratorError as exc:
        if app.verbose:  # the traceback, then the same line and exit code as without
            traceback.print_exc()
        click.echo("error: " + "\n".join(exc.lines()), err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE))
    except OSError as exc:  # the system refused (a file, a socket): not a bug of migrate
        if app.verbose:
            traceback.print_exc()
        click.echo(f"error: {_one_line(_os_error_text(exc))}", err=True)
        connection = isinstance(exc, ConnectionError | TimeoutError)
        sys.exit(int(ExitCode.CONNECTION if connection else ExitCode.USAGE))
    except Exception as exc:  # a bug: one line and a documented code, never a bare traceback
        if app.verbose:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (a bug in migrate "
            f"{__version__}: please run the same command with --verbose and report its "
            "output)",
            err=True,
        )
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(int(code) if isinstance(code, int) else 0)
