"""Where a connection goes: parsed from a URL, a libpq keyword string or libpq's
``PG*`` environment variables, so that errors can name the host, port, database and
user plainly, without ever showing the password.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from migrator.dsn import mask_dsn
from migrator.errors import UsageError

#: libpq keyword names asyncpg accepts as ``connect()`` arguments, and their names there
_KEYWORD_ARGUMENTS = {
    "host": "host",
    "hostaddr": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "dbname": "database",
    "sslmode": "ssl",
    "passfile": "passfile",
}
_KEYWORD = re.compile(r"^\s*[A-Za-z_]+\s*=")


@dataclass(frozen=True)
class ConnectTarget:
    """A parsed connection target. ``password`` is only ever used to connect and to
    scrub messages; :meth:`describe` never includes it."""

    #: the DSN as given, or ``None`` when libpq's ``PG*`` variables are used
    dsn: str | None
    host: str
    port: int | None
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None
    #: ``connect()`` keyword arguments when the DSN was a libpq keyword string
    keyword_arguments: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: without a DSN: whether any libpq variable (PGHOST, PGPORT, ...) said where
    from_environment: bool = True

    @property
    def address(self) -> str:
        """``host:port`` (or the socket directory for a unix socket)."""
        if self.host.startswith("/"):
            return f"the socket directory {self.host}"
        return f"{self.host}:{self.port or 5432}"

    def describe(self) -> str:
        """The target for messages: the masked DSN, or where the PG* variables point."""
        if self.dsn is not None:
            return mask_dsn(self.dsn)
        if not self.from_environment:
            return (
                f"{self.user}@{self.address}/{self.database} (libpq's defaults: no "
                "--database-url, DATABASE_URL or PG* variable is set)"
            )
        return f"{self.user}@{self.address}/{self.database} (from PG* variables)"

    def secrets(self) -> list[str]:
        """Strings that must never appear in output (the password, if any)."""
        return [self.password] if self.password else []


def parse_target(dsn: str | None, environ: Mapping[str, str] | None = None) -> ConnectTarget:
    """Parse ``dsn`` (a ``postgresql://`` URL or ``key=value`` string); ``None`` means
    libpq's environment variables. Missing parts fall back to ``PG*`` and libpq's
    defaults, as the driver does."""
    env = os.environ if environ is None else environ
    if dsn is not None and not dsn.strip():
        dsn = None
    parts: dict[str, str] = {}
    keyword_arguments: dict[str, Any] = {}
    if dsn is not None:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", dsn):
            parts = _url_parts(dsn)
        elif _KEYWORD.match(dsn):
            parts = _keyword_parts(dsn)
            keyword_arguments = {
                _KEYWORD_ARGUMENTS[key]: int(value) if key == "port" else value
                for key, value in parts.items()
                if key in _KEYWORD_ARGUMENTS
            }
        else:
            raise UsageError(
                f"the database URL {mask_dsn(dsn)!r} is neither a postgresql:// URL "
                "nor a key=value string",
                hint="write it as postgresql://user@host:5432/dbname",
            )
    user = parts.get("user") or env.get("PGUSER") or _os_user()
    port_text = parts.get("port") or env.get("PGPORT")
    try:
        port = int(port_text) if port_text else None
    except ValueError:
        raise UsageError(
            f"invalid port {port_text!r} in {mask_dsn(dsn) if dsn else 'PGPORT'}",
            hint="give a number such as 5432",
        ) from None
    return ConnectTarget(
        dsn=dsn,
        host=parts.get("host") or env.get("PGHOST") or "localhost",
        port=port,
        user=user,
        database=parts.get("dbname") or env.get("PGDATABASE") or user,
        password=parts.get("password") or env.get("PGPASSWORD") or None,
        sslmode=parts.get("sslmode") or env.get("PGSSLMODE") or None,
        keyword_arguments=keyword_arguments,
        from_environment=dsn is not None or any(name in env for name in _WHERE_VARIABLES),
    )


#: the libpq variables that say which server, database and user to connect to
_WHERE_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "postgres"


def _url_parts(dsn: str) -> dict[str, str]:
    try:
        url = urlsplit(dsn)
        port = url.port
    except ValueError as exc:
        raise UsageError(
            f"the database URL {mask_dsn(dsn)!r} does not parse ({exc})",
            hint="write it as postgresql://user@host:5432/dbname",
        ) from None
    if url.scheme not in ("postgres", "postgresql"):
        raise UsageError(
            f"the database URL {mask_dsn(dsn)!r} is not a PostgreSQL URL",
            hint="it must start with postgresql:// or postgres://",
        )
    query = {key: values[-1] for key, values in parse_qs(url.query).items()}
    parts = {
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "host": unquote(url.hostname or ""),
        "port": str(port) if port else "",
        "dbname": unquote(url.path.lstrip("/")),
    }
    for key in ("host", "port", "user", "password", "dbname", "sslmode"):
        if query.get(key):
            parts[key] = query[key]
    return {key: value for key, value in parts.items() if value}


def _keyword_parts(dsn: str) -> dict[str, str]:
    try:
        words = shlex.split(dsn)
    except ValueError as exc:
        raise UsageError(f"the connection string does not parse ({exc})") from None
    parts: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise UsageError(
                f"the connection string {mask_dsn(dsn)!r} has a word without '=': "
                f"{mask_dsn(word)!r}",
                hint="write key=value pairs such as host=db port=5432 dbname=app",
            )
        parts[key.strip().lower()] = value
    return parts
