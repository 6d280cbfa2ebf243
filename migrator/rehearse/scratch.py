"""Throwaway databases on a server: created for one rehearsal, always dropped."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlencode

import asyncpg

from migrator.db.connection import connect
from migrator.db.quoting import quote_ident
from migrator.db.target import parse_target
from migrator.dsn import mask_dsn
from migrator.errors import ConnectionFailed

#: Every database a rehearsal creates starts with this, so one left behind by a killed
#: process is recognisable (and never confused with a real one).
SCRATCH_PREFIX = "migrator_rehearsal_"


def dsn_with_database(dsn: str | None, database: str) -> str:
    """``dsn`` pointing at ``database`` instead, with every other setting kept: a URL
    stays a URL (written anew from what libpq reads in it), a keyword string stays a
    keyword string; ``None`` (libpq's ``PG*`` variables) gives ``dbname=...``."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parse_target(dsn)  # a string libpq does not accept is one clear error, here
    if not dsn or "://" not in dsn:
        return make_conninfo(dsn or "", dbname=database)
    settings = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
    settings["dbname"] = database
    return url_of(settings)


def url_of(settings: dict[str, str]) -> str:
    """A ``postgresql://`` URL saying what the libpq ``settings`` say."""
    user = quote(settings.pop("user", ""), safe="")
    password = settings.pop("password", "")
    credentials = f"{user}:{quote(password, safe='')}@" if password else ""
    credentials = credentials or (f"{user}@" if user else "")
    host = settings.get("host", "")
    port = settings.get("port", "")
    authority = ""
    if host and "," not in host and not host.startswith("/") and "," not in port:
        settings.pop("host")
        authority = f"[{host}]" if ":" in host else quote(host, safe="")
        if settings.get("port"):
            authority += ":" + settings.pop("port")
    database = quote(settings.pop("dbname", ""), safe="")
    query = urlencode(settings)
    return f"postgresql://{credentials}{authority}/{database}" + (f"?{query}" if query else "")


async def create_database(
    admin_dsn: str | None,
    name: str,
    template: str = "template0",
    *,
    timeout_ms: int | None = None,
) -> None:
    """Create ``name``; a server that refuses (no ``CREATEDB``, too many databases) is
    one line, :class:`ConnectionFailed`."""
    admin = await connect(admin_dsn, timeout_ms=timeout_ms)
    try:
        await admin.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(template)}")
    except asyncpg.InsufficientPrivilegeError:
        raise ConnectionFailed(
            f"cannot create a throwaway database on {_where(admin_dsn)}: its role lacks CREATEDB",
            hint="grant it (ALTER ROLE ... CREATEDB), or leave out --database-url to rehearse "
            "on the embedded PostgreSQL",
        ) from None
    except asyncpg.PostgresError as exc:
        raise ConnectionFailed(
            f"cannot create a throwaway database on {_where(admin_dsn)}: {exc}"
        ) from None
    finally:
        await admin.close()


def _where(dsn: str | None) -> str:
    return mask_dsn(dsn) if dsn else "the server of the PG* variables"


async def drop_database(admin_dsn: str | None, name: str, *, timeout_ms: int | None = None) -> None:
    """Drop ``name``, disconnecting whoever is still in it."""
    admin = await connect(admin_dsn, timeout_ms=timeout_ms)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    finally:
        await admin.close()


@asynccontextmanager
async def scratch_database(
    admin_dsn: str | None, *, template: str = "template0", timeout_ms: int | None = None
) -> AsyncIterator[str]:
    """A new empty database on the server of ``admin_dsn``; yields its DSN and drops it
    afterwards, whatever happens. Never touches an existing database."""
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    await create_database(admin_dsn, name, template, timeout_ms=timeout_ms)
    try:
        yield dsn_with_database(admin_dsn, name)
    finally:
        await drop_database(admin_dsn, name, timeout_ms=timeout_ms)
