"""Where a connection goes: parsed from a URL, a libpq keyword string or libpq's
``PG*`` environment variables, so that errors can name the host, port, database and
user plainly, without ever showing the password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.db.conninfo import Conninfo, driver_arguments, resolve_conninfo
from migrator.dsn import mask_dsn
from migrator.errors import UsageError


@dataclass(frozen=True)
class ConnectTarget:
    """A parsed connection target. ``password`` is only ever used to connect and to
    scrub messages; :meth:`describe` never includes it, nor does the repr."""

    #: the DSN as given, or ``None`` when libpq's ``PG*`` variables are used
    dsn: str | None = field(repr=False)
    host: str
    port: int | None
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None
    #: every setting as libpq resolves it (string, service, environment, passfile)
    conninfo: Conninfo = field(default_factory=lambda: Conninfo({}), repr=False)
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
        return self.conninfo.secrets or ([self.password] if self.password else [])

    def driver_arguments(self) -> tuple[str, dict[str, Any]]:
        """``(dsn, keyword arguments)`` for ``asyncpg.connect``."""
        return driver_arguments(self.conninfo)

    @property
    def connect_timeout_ms(self) -> int | None:
        """libpq's ``connect_timeout`` (seconds), if set, in milliseconds."""
        text = self.conninfo.get("connect_timeout")
        try:
            return max(int(text), 2) * 1000 if text and int(text) > 0 else None
        except ValueError:
            return None


def parse_target(dsn: str | None, environ: Mapping[str, str] | None = None) -> ConnectTarget:
    """Parse ``dsn`` (a ``postgresql://`` URL or ``key=value`` string); ``None`` means
    libpq's environment variables. Everything is resolved as libpq resolves it
    (:mod:`migrator.db.conninfo`): service files, ``PG*`` variables, the password
    file."""
    env = os.environ if environ is None else environ
    if dsn is not None and not dsn.strip():
        dsn = None
    conninfo = resolve_conninfo(dsn, env)
    hosts = conninfo.get("host") or conninfo.get("hostaddr") or "localhost"
    port_text = (conninfo.given("port") or "").split(",")[0]
    try:
        port = int(port_text) if port_text else None
    except ValueError:
        raise _invalid_port(port_text, dsn) from None
    user = conninfo.get("user") or "postgres"
    return ConnectTarget(
        dsn=dsn,
        host=hosts.split(",")[0],
        port=port,
        user=user,
        database=conninfo.get("dbname") or user,
        password=conninfo.get("password"),
        sslmode=conninfo.given("sslmode"),
        conninfo=conninfo,
        from_environment=dsn is not None or any(name in env for name in _WHERE_VARIABLES),
    )


def _invalid_port(text: str, dsn: str | None) -> Exception:
    return UsageError(
        f"invalid port {text!r} in {mask_dsn(dsn) if dsn else 'PGPORT'}",
        hint="give a number such as 5432",
    )


#: the libpq variables that say which server, database and user to connect to
_WHERE_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE")
