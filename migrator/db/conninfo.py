"""Connection settings resolved the way libpq resolves them, for asyncpg to use.

libpq itself (``PQconninfoParse`` and ``PQconndefaults``, :mod:`migrator.db.libpq`)
parses the connection string, URL or ``key=value``, and knows every keyword and
the environment variable behind it; an unknown keyword is its error, not a silent
drop. What libpq only does while connecting is done here, to its documentation:

1. the string's own settings;
2. a service (``service=`` or ``PGSERVICE``) from ``PGSERVICEFILE`` or
   ``~/.pg_service.conf``, then ``PGSYSCONFDIR/pg_service.conf``;
3. the ``PG*`` environment variables, then libpq's compiled-in defaults;
4. without a password, the password file (``passfile``, ``PGPASSFILE`` or
   ``~/.pgpass``) with libpq's ``\\`` escapes.

:func:`driver_arguments` then says how asyncpg gets each setting, and refuses,
naming it, a setting asyncpg cannot honour (rather than connecting otherwise).
"""

from __future__ import annotations

import getpass
import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from migrator.db import libpq
from migrator.dsn import mask_dsn, register_secret
from migrator.errors import UsageError

#: settings asyncpg reads from its DSN's query string (it has no keyword for them)
_DRIVER_QUERY = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "krbsrvname",
    "gsslib",
)
#: settings with no effect on an asyncpg connection that libpq also treats as hints
#: (keepalives and timeouts of the OS, a fallback name), accepted and left aside
_WITHOUT_EFFECT = frozenset(
    {
        "fallback_application_name",
        "application_name",  # ours is "migrate", so that locks name their holder
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "sslcompression",
        "sslsni",
    }
)
#: settings asyncpg can only honour at these values (libpq's defaults)
_ONLY_VALUES: Mapping[str, frozenset[str]] = {
    "channel_binding": frozenset({"prefer", "disable"}),
    "gssencmode": frozenset({"prefer", "disable"}),
    "load_balance_hosts": frozenset({"disable"}),
    "sslcertmode": frozenset({"allow"}),
    "gssdelegation": frozenset({"0"}),
    "client_encoding": frozenset({"utf8", "utf-8", "unicode", "auto"}),
    "min_protocol_version": frozenset({"3.0"}),
    "max_protocol_version": frozenset({"3.0"}),
}
_CERTIFICATE_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
_VERIFYING = frozenset({"verify-ca", "verify-full"})


@dataclass(frozen=True)
class Conninfo:
    """Every libpq setting that has a value, and where each value came from."""

    values: Mapping[str, str] = field(repr=False)
    #: ``keyword -> origin``: ``the connection string``, ``service NAME (FILE)``, an
    #: environment variable's name, ``the password file FILE``, or ``default``
    origins: Mapping[str, str] = field(default_factory=dict)

    def get(self, keyword: str) -> str | None:
        value = self.values.get(keyword)
        return value if value else None

    def given(self, keyword: str) -> str | None:
        """The value, unless it is only libpq's compiled-in default."""
        return self.get(keyword) if self.origins.get(keyword) != "default" else None

    def environment(self) -> dict[str, str]:
        """The settings as libpq's environment variables (``PGSSLROOTCERT=...``), for
        a libpq tool such as pg_dump: every setting not left at its default."""
        return {
            option.envvar.decode(): value
            for option in _options()
            if option.envvar and (value := self.given(option.keyword.decode()))
        }

    @property
    def secrets(self) -> list[str]:
        return [value for key in _secret_keywords() if (value := self.values.get(key))]


@cache
def _options() -> tuple[libpq.Option, ...]:
    return tuple(libpq.defaults())


@cache
def _secret_keywords() -> frozenset[str]:
    """The keywords libpq displays as ``*`` (password, sslpassword, ...)."""
    return frozenset(option.keyword.decode() for option in _options() if option.dispchar == b"*")


def keywords() -> list[str]:
    """Every connection keyword this libpq knows."""
    return [option.keyword.decode() for option in _options()]


def resolve_conninfo(dsn: str | None, environ: Mapping[str, str] | None = None) -> Conninfo:
    """Resolve ``dsn`` (``None``: only the environment) as libpq does; see the module
    docstring. Raises :class:`UsageError` naming what is wrong: an unknown keyword,
    a string that does not parse, a service that is not defined, a bad service file."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for key, value in _parse(dsn).items():
        values[key], origins[key] = value, "the connection string"
    service = values.get("service") or env.get("PGSERVICE")
    if service:
        file, settings = _find_service(service, env)
        for key, value in settings.items():
            if key not in values:
                values[key], origins[key] = value, f"service {service} ({file})"
    for option in _options():
        key = option.keyword.decode()
        if key in values:
            continue
        if option.envvar and env.get(option.envvar.decode()):
            values[key], origins[key] = env[option.envvar.decode()], option.envvar.decode()
        elif option.compiled is not None:
            values[key], origins[key] = option.compiled.decode(), "default"
    if not values.get("user"):
        values["user"], origins["user"] = _os_user(), "default"
    if not values.get("dbname"):
        values["dbname"], origins["dbname"] = values["user"], "default"
    if not values.get("password"):
        found = password_from_file(values, env)
        if found:
            values["password"], origins["password"] = found
    for key in _secret_keywords():
        register_secret(values.get(key))
    return Conninfo(values, origins)


def _parse(dsn: str | None) -> dict[str, str]:
    if dsn is None or not dsn.strip():
        return {}
    try:
        options = libpq.parse(dsn.encode())
    except libpq.ConninfoError as exc:  # libpq's own message
        raise _unparseable(dsn, str(exc)) from None
    return {
        option.keyword.decode(): option.val.decode(errors="replace")
        for option in options
        if option.val is not None
    }


def _unparseable(dsn: str, libpq_message: str) -> UsageError:
    """libpq's complaint about ``dsn``, showing no piece of it that stands where a
    password stands (libpq quotes the offending piece)."""
    masked = mask_dsn(dsn)
    message = libpq_message.strip().splitlines()[0] if libpq_message.strip() else "invalid"

    def shown(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) in masked else '"***"'

    message = re.sub(r'"([^"]*)"', shown, message)
    unknown = re.match(r'invalid (?:connection option|URI query parameter):? "(.+)"', message)
    if unknown:
        return UsageError(
            f"unknown connection keyword {unknown.group(1)!r} in {masked!r}",
            hint="see the keywords libpq documents (docs/configuration.md, Connections)",
        )
    return UsageError(
        f"the connection string {masked!r} does not parse: {message}",
        hint="write a URL (postgresql://user@host:5432/dbname, special characters in the "
        "password percent-encoded) or key=value pairs",
    )


def _find_service(name: str, env: Mapping[str, str]) -> tuple[Path, dict[str, str]]:
    """The settings of service ``name``: the user's file first, then the system's."""
    user_file = env.get("PGSERVICEFILE") or str(Path(_home(env), ".pg_service.conf"))
    system_dirs = [env["PGSYSCONFDIR"]] if env.get("PGSYSCONFDIR") else list(_SYSTEM_DIRS)
    for path in (Path(user_file), *(Path(d, "pg_service.conf") for d in system_dirs)):
        settings = read_service(path, name)
        if settings is not None:
            return path, settings
    raise UsageError(
        f"connection service {name!r} is not defined (looked in {user_file} and "
        f"{', '.join(str(Path(d, 'pg_service.conf')) for d in system_dirs)})",
        hint="define it in ~/.pg_service.conf or PGSERVICEFILE, or fix PGSERVICE / service=",
    )


#: where libpq builds look for the system-wide pg_service.conf (PGSYSCONFDIR unset)
_SYSTEM_DIRS = ("/etc/postgresql-common", "/etc")


def read_service(path: Path, name: str) -> dict[str, str] | None:
    """The ``[name]`` section of the service file ``path`` (``None`` if the file or
    the section does not exist). Its format is libpq's: ``#`` comments, ``[section]``
    headers, ``keyword=value`` lines; an unknown keyword or a nested ``service`` is
    an error naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UsageError(f"cannot read the service file {path}: {exc.strerror}") from None
    known = set(keywords())
    settings: dict[str, str] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if settings is not None:
                break
            if line.rstrip("]")[1:] == name:
                settings = {}
            continue
        if settings is None:
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        where = f"{path}, line {number}"
        if not sep:
            raise UsageError(f"syntax error in the service file {where}: no '='")
        if key == "service":
            raise UsageError(f"nested service specifications are not supported ({where})")
        if key not in known:
            raise UsageError(f"unknown connection keyword {key!r} in the service file {where}")
        settings.setdefault(key, value.strip())
    return settings


def password_from_file(values: Mapping[str, str], env: Mapping[str, str]) -> tuple[str, str] | None:
    """``(password, origin)`` from the password file for the first host, as libpq
    reads it: ``host:port:database:user:password`` lines, ``*`` matching anything,
    ``\\`` escaping the next character; a file that others can read is ignored."""
    path = Path(values.get("passfile") or Path(_home(env), ".pgpass"))
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return None
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    host = (values.get("host") or values.get("hostaddr") or "").split(",")[0]
    if not host or host.startswith("/"):
        host = "localhost"
    port = (values.get("port") or "5432").split(",")[0] or "5432"
    wanted = (host, port, values.get("dbname", ""), values.get("user", ""))
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fields = _passfile_fields(line)
        if len(fields) < 5:
            continue
        if all(f == "*" or f == w for f, w in zip(fields[:4], wanted, strict=True)):
            return fields[4], f"the password file {path}"
    return None


def _passfile_fields(line: str) -> list[str]:
    """The five fields of a password file line; ``\\x`` is ``x``; the fifth field is
    the rest of the line."""
    fields: list[str] = []
    current: list[str] = []
    characters = iter(line)
    for character in characters:
        if character == "\\":
            current.append(next(characters, ""))
        elif character == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
    fields.append("".join(current))
    return fields


def driver_arguments(conninfo: Conninfo) -> tuple[str, dict[str, Any]]:
    """``(dsn, keyword arguments)`` for ``asyncpg.connect`` that mean what
    ``conninfo`` means to libpq. Raises :class:`UsageError` for a setting asyncpg
    cannot honour, an invalid port, or a certificate file libpq would refuse to miss.
    """
    _refuse_what_the_driver_cannot_do(conninfo)
    arguments: dict[str, Any] = {}
    hosts = conninfo.get("host") or conninfo.get("hostaddr")
    host_list = hosts.split(",") if hosts else []
    if host_list:
        arguments["host"] = host_list if len(host_list) > 1 else host_list[0]
    if conninfo.given("port") or host_list:
        arguments["port"] = _ports(conninfo, len(host_list))
    arguments["user"] = conninfo.get("user")
    arguments["database"] = conninfo.get("dbname")
    if conninfo.get("password"):
        arguments["password"] = conninfo.get("password")
    settings = options_to_settings(conninfo.get("options") or "")
    if settings:
        arguments["server_settings"] = settings
    query = {key: value for key in _DRIVER_QUERY if (value := conninfo.given(key))}
    for key in _CERTIFICATE_FILES:
        path = query.get(key)
        if path and path != "system" and not Path(path).expanduser().exists():
            if key == "sslrootcert" and conninfo.get("sslmode") in _VERIFYING:
                raise UsageError(
                    f"the root certificate file {path} does not exist (sslrootcert, from "
                    f"{conninfo.origins.get(key)})",
                    hint="give the CA certificate of the server, or sslrootcert=system for "
                    "the system's trusted roots",
                )
            del query[key]  # libpq goes on without it, and so do we
    if query.get("sslrootcert") == "system":  # libpq: the system's roots, verify-full
        for key in ("sslrootcert", "sslmode"):
            query.pop(key, None)
        arguments["ssl"] = ssl.create_default_context()
    return ("postgresql://?" + urlencode(query)) if query else "", arguments


def _ports(conninfo: Conninfo, hosts: int) -> int | list[int]:
    text = conninfo.get("port") or "5432"
    try:
        ports = [int(part) if part else 5432 for part in text.split(",")]
    except ValueError:
        raise UsageError(
            f"invalid port {text!r} (port, from {conninfo.origins.get('port')})",
            hint="give a number such as 5432",
        ) from None
    if len(ports) == 1 and hosts > 1:
        ports *= hosts
    return ports if len(ports) > 1 else ports[0]


def _refuse_what_the_driver_cannot_do(conninfo: Conninfo) -> None:
    for key, value in conninfo.values.items():
        origin = conninfo.origins.get(key)
        if origin == "default" or not value or key in _WITHOUT_EFFECT:
            continue
        if key in _DRIVER_QUERY or key in _DRIVER_KEYWORDS:
            continue
        allowed = _ONLY_VALUES.get(key)
        if allowed is not None and value.lower() in allowed:
            continue
        shown = "***" if key in _secret_keywords() else value
        raise UsageError(
            f"the connection setting {key}={shown} (from {origin}) is not supported by "
            "migrate's driver (asyncpg)",
            hint="leave it out, or see docs/configuration.md (Connections) for what is supported",
        )


#: settings that become ``asyncpg.connect`` arguments (or are resolved here)
_DRIVER_KEYWORDS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "user",
        "password",
        "dbname",
        "passfile",
        "service",
        "options",
        "connect_timeout",
    }
)


def options_to_settings(options: str) -> dict[str, str]:
    """Server settings from libpq's ``options`` (``-c name=value`` or
    ``--name=value``, blanks escaped with ``\\``)."""
    words: list[str] = []
    current: list[str] = []
    characters = iter(options)
    for character in characters:
        if character == "\\":
            current.append(next(characters, ""))
        elif character.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(character)
    if current:
        words.append("".join(current))
    settings: dict[str, str] = {}
    pending_c = False
    for word in words:
        if pending_c or word.startswith("--"):
            name, sep, value = word.removeprefix("--").partition("=")
            if not sep:
                raise UsageError(f"cannot read the connection options {options!r}: {word!r}")
            settings[name.replace("-", "_")] = value
            pending_c = False
        elif word == "-c":
            pending_c = True
        elif word.startswith("-c"):
            name, _, value = word[2:].partition("=")
            settings[name] = value
        else:
            raise UsageError(
                f"the connection options {options!r} can only set server settings (-c name=value)",
                hint="write options='-c search_path=app'",
            )
    return settings


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "postgres"
