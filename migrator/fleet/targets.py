"""The targets file: which databases a fleet command runs on.

A TOML file with ``[[target]]`` entries (one database each) and ``[[discover]]``
entries (a server and a query returning database names)::

    [[target]]
    name = "billing"
    url = "postgresql://app@db-1/billing"     # or url-env = "BILLING_URL"
    lock-timeout = "2s"                        # any per-target setting below

    [[discover]]
    url = "postgresql://app@db-2/postgres"
    query = "SELECT datname FROM pg_database WHERE datname LIKE 'tenant\\_%'"
    name-prefix = "db-2/"                      # optional; names are prefix + datname

Passwords may be in the URL, in ``PGPASSWORD`` or in a passfile, as for one database;
they are never printed. Everything wrong with the file is reported at once, each
problem with the entry it concerns. Pure: no database here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from migrator.config import OPTIONS, Option
from migrator.dsn import register_dsn_secrets
from migrator.errors import UsageError

#: settings a target (or a discover entry, for all its databases) may set for itself
PER_TARGET_SETTINGS: tuple[str, ...] = (
    "ledger_schema",
    "ledger_table",
    "lock_timeout",
    "statement_timeout",
    "lock_retries",
    "retry_delay",
    "retry_max_delay",
    "lock_wait",
    "connect_timeout",
    "wait",
    "strict",
)
_SETTING_OPTIONS: dict[str, Option] = {
    option.key: option for option in OPTIONS if option.name in PER_TARGET_SETTINGS
}
_TARGET_KEYS = {"name", "url", "url-env"}
_DISCOVER_KEYS = {"url", "url-env", "query", "name-prefix"}
#: what a target name may hold: up to 200 characters, none of them a control character
_NAME = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,200}$")


@dataclass(frozen=True)
class Target:
    """One database of the fleet."""

    name: str
    url: str
    #: setting name -> parsed value, applied over the command's settings
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Discover:
    """A server whose databases ``query`` lists (first column of each row)."""

    label: str
    url: str
    query: str
    name_prefix: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetsFile:
    path: Path
    targets: tuple[Target, ...]
    discover: tuple[Discover, ...]


def load_targets_file(path: Path, environ: Mapping[str, str] | None = None) -> TargetsFile:
    """Read and check ``path``; raise :class:`UsageError` (exit 2) listing every problem."""
    environ = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"targets file {path} does not exist",
            hint="give --targets the path of a TOML file with [[target]] entries",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read targets file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"targets file {path}: invalid TOML: {exc}", hint="fix the file's syntax"
        ) from None
    problems: list[str] = []
    unknown = sorted(set(data) - {"target", "discover"})
    if unknown:
        problems.append(
            f"unknown top-level key(s) {', '.join(unknown)} (use [[target]], [[discover]])"
        )
    targets = [
        target
        for index, entry in enumerate(_entries(data, "target", problems), start=1)
        if (target := _target(entry, index, environ, problems)) is not None
    ]
    discover = [
        found
        for index, entry in enumerate(_entries(data, "discover", problems), start=1)
        if (found := _discover(entry, index, environ, problems)) is not None
    ]
    if not problems and not targets and not discover:
        problems.append("no [[target]] or [[discover]] entry")
    problems.extend(duplicate_names(target.name for target in targets))
    if problems:
        raise UsageError(
            f"targets file {path} cannot be used",
            problems=problems,
            hint="see docs/fleet.md for the format",
        )
    return TargetsFile(path, tuple(targets), tuple(discover))


def duplicate_names(names: Sequence[str] | Any) -> list[str]:
    """A problem line for each name used by more than one target."""
    seen: set[str] = set()
    reported: set[str] = set()
    problems = []
    for name in names:
        if name in seen and name not in reported:
            problems.append(f"target name {name!r} is used more than once: names must be unique")
            reported.add(name)
        seen.add(name)
    return problems


def _entries(data: Mapping[str, Any], key: str, problems: list[str]) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.append(f"{key} must be an array of tables: write [[{key}]]")
        return []
    return value


def _text(entry: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {key} must be a non-empty string")
        return None
    return value


def _url(
    entry: Mapping[str, Any], where: str, environ: Mapping[str, str], problems: list[str]
) -> str | None:
    url = _text(entry, "url", where, problems)
    variable = _text(entry, "url-env", where, problems)
    if url is not None and variable is not None:
        problems.append(f"{where}: give url or url-env, not both")
        return None
    if variable is not None:
        url = environ.get(variable)
        if not url:
            problems.append(f"{where}: environment variable {variable} (url-env) is not set")
            return None
    if url is None:
        problems.append(f"{where}: missing url (or url-env naming a variable that holds it)")
    register_dsn_secrets(url)  # masked in every line, parseable or not
    return url


def _settings(
    entry: Mapping[str, Any], known: set[str], where: str, problems: list[str]
) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in entry.items():
        if key in known:
            continue
        option = _SETTING_OPTIONS.get(key) or _SETTING_OPTIONS.get(key.replace("_", "-"))
        if option is None:
            allowed = ", ".join(sorted(_SETTING_OPTIONS))
            problems.append(f"{where}: unknown key {key!r} (per-target settings: {allowed})")
            continue
        try:
            parsed[option.name] = option.parse(value, f"{key} of {where}")
        except UsageError as exc:
            problems.append(exc.one_line())
    return parsed


def _target(
    entry: Mapping[str, Any], index: int, environ: Mapping[str, str], problems: list[str]
) -> Target | None:
    where = f"target {index}"
    name = _text(entry, "name", where, problems)
    if name is None and "name" not in entry:
        problems.append(f"{where}: missing name")
    elif name is not None:
        where = f"target {index} ({name!r})"
        if not _NAME.match(name):
            problems.append(f"{where}: a name has 1 to 200 characters and no control characters")
            name = None
    url = _url(entry, where, environ, problems)
    settings = _settings(entry, _TARGET_KEYS, where, problems)
    if name is None or url is None:
        return None
    return Target(name, url, settings)


def _discover(
    entry: Mapping[str, Any], index: int, environ: Mapping[str, str], problems: list[str]
) -> Discover | None:
    where = f"discover {index}"
    url = _url(entry, where, environ, problems)
    query = _text(entry, "query", where, problems)
    if query is None and "query" not in entry:
        problems.append(f"{where}: missing query (a SELECT returning database names)")
    prefix = entry.get("name-prefix", "")
    if not isinstance(prefix, str):
        problems.append(f"{where}: name-prefix must be a string")
        prefix = ""
    settings = _settings(entry, _DISCOVER_KEYS, where, problems)
    if url is None or query is None:
        return None
    return Discover(where, url, query, prefix, settings)


def target_for_database(found: Discover, database: str) -> Target:
    """The target of one database that ``found``'s query returned."""
    return Target(found.name_prefix + database, with_database(found.url, database), found.settings)


def with_database(url: str, database: str) -> str:
    """``url`` with its database replaced by ``database`` (a URL, or a libpq keyword
    string, where a later ``dbname=`` wins)."""
    if re.match(r"^postgres(?:ql)?://", url, re.IGNORECASE):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(database, safe="")))
    escaped = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"{url} dbname='{escaped}'"


def check_name(name: str, where: str) -> str | None:
    """A problem line when a discovered database name cannot be a target name."""
    if _NAME.match(name):
        return None
    return f"{where}: database name {name!r} cannot be a target name (control characters)"
