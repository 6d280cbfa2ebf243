"""Settings, resolved once: command-line flags > environment > ``[tool.migrator]`` in the
nearest ``pyproject.toml`` > defaults.

Every option is declared once in :data:`OPTIONS` with its environment variable, its
``pyproject.toml`` key, its parser and its default, so the precedence rule lives in one
function (:func:`load_settings`) and the configuration reference in the docs can be
generated from the same table.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.dsn import register_dsn_secrets
from migrator.durations import format_ms, parse_duration_ms, parse_timeout_ms
from migrator.errors import UsageError

#: A ledger schema or table name: a plain identifier, so that nothing a user configures
#: can change the meaning of the SQL we compose (it is quoted as well).
_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _identifier(value: Any, what: str) -> str:
    text = str(value)
    if not _PLAIN_IDENTIFIER.match(text):
        raise UsageError(
            f"invalid {what} {text!r}",
            hint="use letters, digits and underscores, starting with a letter, at most 63",
        )
    return text


#: ``<table>_history`` must fit PostgreSQL's 63-byte names too, or it would be cut
#: to the ledger table's own name
_LEDGER_TABLE_MAX = 63 - len("_history")


def _ledger_table(value: Any, what: str) -> str:
    text = _identifier(value, what)
    if len(text) > _LEDGER_TABLE_MAX:
        raise UsageError(
            f"invalid {what} {text!r}: longer than {_LEDGER_TABLE_MAX} characters",
            hint=f"its history table {text}_history must fit PostgreSQL's 63-byte names",
        )
    return text


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise UsageError(f"invalid {what} {value!r}", hint="give a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid {what} {value!r}", hint="give a whole number") from None
    if number < 0:
        raise UsageError(f"invalid {what} {value!r}", hint="give a number of 0 or more")
    return number


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise UsageError(f"invalid {what} {value!r}", hint="give true or false")


def _duration(value: Any, what: str) -> int:
    return parse_duration_ms(str(value), what=what)


def _timeout(value: Any, what: str) -> int:
    """A duration that becomes a PostgreSQL timeout setting (at most ~24 days)."""
    return parse_timeout_ms(str(value), what=what)


def _text(value: Any, what: str) -> str:
    return str(value)


VERSION_STYLES = ("sequential", "timestamp")


def _version_style(value: Any, what: str) -> str:
    text = str(value).strip().lower()
    if text not in VERSION_STYLES:
        raise UsageError(f"invalid {what} {value!r}", hint="give sequential or timestamp")
    return text


@dataclass(frozen=True)
class Option:
    """One setting: where it can come from and how it is parsed."""

    name: str
    env: str | None
    parse: Callable[[Any, str], Any]
    default: Any
    doc: str

    @property
    def key(self) -> str:
        """The ``[tool.migrator]`` key (kebab-case, like the flag)."""
        return self.name.replace("_", "-")


#: what ``--layout`` / ``layout =`` accept (migrator.source.layouts.LAYOUT_NAMES; a test
#: keeps the two equal, config does not import the source layer)
LAYOUT_NAMES = ("auto", "diesel", "flyway", "goose", "dbmate", "migrator", "golang-migrate", "sqlx")


def _layout(value: Any, what: str) -> str:
    text = _text(value, what)
    if text not in LAYOUT_NAMES:
        raise UsageError(
            f"{what}: unknown layout {text!r}", hint="choose one of " + ", ".join(LAYOUT_NAMES)
        )
    return text


OPTIONS: tuple[Option, ...] = (
    Option(
        "migrations_dir",
        "MIGRATOR_DIR",
        _text,
        "database/migrations",
        "directory holding the migration files (relative to pyproject.toml or the cwd)",
    ),
    Option(
        "layout",
        "MIGRATOR_LAYOUT",
        _layout,
        "auto",
        "how the migrations directory is laid out: auto (detected), migrator, "
        "golang-migrate, sqlx, dbmate, goose, flyway or diesel",
    ),
    Option(
        "database_url",
        "DATABASE_URL",
        _text,
        None,
        "PostgreSQL URL; without it libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD, "
        "PGDATABASE are used",
    ),
    Option(
        "ledger_schema",
        "MIGRATOR_LEDGER_SCHEMA",
        _identifier,
        "public",
        "schema of the ledger tables",
    ),
    Option(
        "ledger_table",
        "MIGRATOR_LEDGER_TABLE",
        _ledger_table,
        "migrator_ledger",
        "name of the ledger table (its history table gets the suffix _history)",
    ),
    Option(
        "lock_timeout",
        "MIGRATOR_LOCK_TIMEOUT",
        _timeout,
        5000,
        "lock_timeout for each migration unless its file says otherwise (0 = none)",
    ),
    Option(
        "statement_timeout",
        "MIGRATOR_STATEMENT_TIMEOUT",
        _timeout,
        0,
        "statement_timeout for each migration unless its file says otherwise (0 = none)",
    ),
    Option(
        "lock_retries",
        "MIGRATOR_LOCK_RETRIES",
        _int,
        5,
        "how many times a migration that hit lock_timeout is retried",
    ),
    Option(
        "retry_delay",
        "MIGRATOR_RETRY_DELAY",
        _duration,
        500,
        "first backoff after a lock timeout; doubles each retry, with jitter",
    ),
    Option(
        "retry_max_delay",
        "MIGRATOR_RETRY_MAX_DELAY",
        _duration,
        10_000,
        "longest backoff between retries",
    ),
    Option(
        "lock_wait",
        "MIGRATOR_LOCK_WAIT",
        _timeout,
        60_000,
        "how long to wait for another runner's migration lock before giving up",
    ),
    Option(
        "connect_timeout",
        "MIGRATOR_CONNECT_TIMEOUT",
        _duration,
        10_000,
        "how long to wait for the server to answer a connection",
    ),
    Option(
        "wait",
        "MIGRATOR_WAIT",
        _duration,
        0,
        "how long to keep trying to connect while the server is not up yet (nothing "
        "listening, starting up, host name not resolvable yet); 0 = fail at once",
    ),
    Option(
        "targets",
        "MIGRATOR_TARGETS",
        _text,
        None,
        "TOML file listing the databases a fleet command runs on (docs/fleet.md; relative "
        "to pyproject.toml or the cwd); an explicit --database-url runs on that one database",
    ),
    Option(
        "strict",
        "MIGRATOR_STRICT",
        _bool,
        False,
        "up refuses to start, running nothing, while an applied file changed, an applied "
        "version's file is gone, or a pending version to apply is older than the newest "
        "applied (as Flyway's validate-on-migrate and dbmate's --strict); false: it says "
        "so and goes on",
    ),
    Option(
        "versions",
        "MIGRATOR_VERSIONS",
        _version_style,
        "sequential",
        "how `migrate new` numbers a migration: sequential (001, 002, ...) or timestamp "
        "(UTC, 20261206153000: branches that each add one do not clash)",
    ),
)

_OPTION_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Durations are milliseconds."""

    migrations_dir: Path
    layout: str = "auto"
    #: never in the repr (a failing pytest test prints its fixtures' reprs)
    database_url: str | None = field(default=None, repr=False)
    ledger_schema: str = "public"
    ledger_table: str = "migrator_ledger"
    lock_timeout: int = 5000
    statement_timeout: int = 0
    lock_retries: int = 5
    retry_delay: int = 500
    retry_max_delay: int = 10_000
    lock_wait: int = 60_000
    connect_timeout: int = 10_000
    wait: int = 0
    strict: bool = False
    versions: str = "sequential"
    #: the targets file of a fleet (``--targets``), resolved to an absolute path
    targets: Path | None = None
    #: where each value came from (``flag``, ``env``, ``pyproject.toml``, ``default``)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: the ``[tool.migrator]`` table of the pyproject.toml used, if any
    pyproject_path: Path | None = None
    #: ``[tool.migrator.lint]``, parsed by the linter
    lint_table: Mapping[str, Any] = field(default_factory=dict)
    #: ``[tool.migrator.backfill]`` and other tables owned by other layers
    extra_tables: Mapping[str, Any] = field(default_factory=dict)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_tool_table(path: Path) -> dict[str, Any]:
    """``[tool.migrator]`` of ``path`` (empty when absent)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint="fix the file's TOML syntax") from None
    table = data.get("tool", {}).get("migrator", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.migrator] must be a table")
    return table


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every option by precedence: flags > environment > pyproject.toml > default.

    ``flags`` maps option names to values given on the command line (``None`` = not
    given). Unknown keys in ``[tool.migrator]`` are an error naming the file.
    """
    flags = flags or {}
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    pyproject = find_pyproject(cwd)
    table = read_tool_table(pyproject) if pyproject else {}
    nested = {key: value for key, value in table.items() if isinstance(value, dict)}
    scalars = {key: value for key, value in table.items() if not isinstance(value, dict)}
    known = {option.key for option in OPTIONS} | {option.name for option in OPTIONS}
    unknown = sorted(set(scalars) - known)
    if unknown:
        raise UsageError(
            f"{pyproject}: unknown key(s) in [tool.migrator]: {', '.join(unknown)}",
            hint="see docs/configuration.md for the keys",
        )

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for option in OPTIONS:
        what = f"{option.key}"
        if flags.get(option.name) is not None:
            values[option.name] = option.parse(flags[option.name], f"--{what}")
            origins[option.name] = "flag"
        elif option.env and environ.get(option.env):
            values[option.name] = option.parse(environ[option.env], option.env)
            origins[option.name] = "env"
        elif option.key in scalars or option.name in scalars:
            raw = scalars.get(option.key, scalars.get(option.name))
            values[option.name] = option.parse(raw, f"{option.key} in {pyproject}")
            origins[option.name] = "pyproject.toml"
        else:
            values[option.name] = option.default
            origins[option.name] = "default"

    base = pyproject.parent if pyproject and origins["migrations_dir"] == "pyproject.toml" else cwd
    directory = Path(values.pop("migrations_dir")).expanduser()
    register_dsn_secrets(values.get("database_url"))  # masked in all output from now on
    if not directory.is_absolute():
        directory = base / directory
    if values.get("targets") is not None:
        from_file = pyproject and origins["targets"] == "pyproject.toml"
        targets_base = pyproject.parent if pyproject and from_file else cwd
        values["targets"] = targets_base / Path(values["targets"]).expanduser()
    return Settings(
        migrations_dir=directory,
        origins=origins,
        pyproject_path=pyproject,
        lint_table=nested.get("lint", {}),
        extra_tables={k: v for k, v in nested.items() if k != "lint"},
        **values,
    )


def option(name: str) -> Option:
    """The declaration of one option (for help texts and docs)."""
    return _OPTION_BY_NAME[name]


#: command-line flags that set an option, and the commands that take them ("" = every
#: command); the other options come from the environment or pyproject.toml
FLAGS: Mapping[str, tuple[str, str]] = {
    "migrations_dir": ("--dir", ""),
    "layout": ("--layout", ""),
    "database_url": ("--database-url", ""),
    "lock_timeout": ("--lock-timeout", "up, down"),
    "statement_timeout": ("--statement-timeout", "up, down"),
    "lock_retries": ("--lock-retries", "up, down"),
    "lock_wait": ("--lock-wait", "up, down"),
    "wait": ("--wait", ""),
    "strict": ("--strict", "up"),
    "versions": ("--timestamp", "new"),
    "targets": ("--targets", "up, down, status, verify, baseline"),
}


def _default_text(declared: Option) -> str:
    if declared.default is None:
        return "none"
    if isinstance(declared.default, bool):
        return str(declared.default).lower()
    if declared.parse in (_duration, _timeout):
        return "0 (none)" if declared.default == 0 else format_ms(int(declared.default))
    return str(declared.default)


def options_reference() -> str:
    """The Markdown table of every option (docs/configuration.md embeds it; a test
    keeps the two identical)."""
    lines = [
        "| `[tool.migrator]` key | flag | environment | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for declared in OPTIONS:
        flag, commands = FLAGS.get(declared.name, ("", ""))
        flag_text = f"`{flag}`" + (f" ({commands})" if commands else "") if flag else "—"
        lines.append(
            f"| `{declared.key}` | {flag_text} | "
            f"{f'`{declared.env}`' if declared.env else '—'} | "
            f"`{_default_text(declared)}` | {declared.doc} |"
        )
    return "\n".join(lines) + "\n"
