"""Throwaway databases on a server: created for one rehearsal, always dropped."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlencode

import asyncpg

from migrator.db.connection import connect
from migrator.db.quoting import quote_ident, quote_literal
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


#: settings whose stored value is a list of quoted elements (as pg_dump knows them):
#: each element is set again as a literal of its own
_LIST_SETTINGS = frozenset(
    {
        "local_preload_libraries",
        "search_path",
        "session_preload_libraries",
        "shared_preload_libraries",
        "temp_tablespaces",
        "unix_socket_directories",
    }
)

#: the per-database settings of a database: ``ALTER DATABASE ... SET`` (no role) and
#: ``ALTER ROLE ... IN DATABASE ... SET``
_DATABASE_SETTINGS = """
SELECT r.rolname AS role, s.config
FROM pg_catalog.pg_db_role_setting AS d
JOIN pg_catalog.pg_database AS db ON db.oid = d.setdatabase
LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = d.setrole
CROSS JOIN LATERAL unnest(d.setconfig) WITH ORDINALITY AS s(config, position)
WHERE db.datname = $1
ORDER BY r.rolname NULLS FIRST, s.position
"""


def _list_elements(value: str) -> list[str]:
    """The elements of a stored list setting (``"$user", public`` -> ``$user``,
    ``public``): double-quoted ones unquoted, the rest trimmed."""
    elements: list[str] = []
    position = 0
    while position <= len(value):
        while position < len(value) and value[position] == " ":
            position += 1
        if position < len(value) and value[position] == '"':
            end = position + 1
            text = []
            while end < len(value):
                if value[end] == '"' and value[end + 1 : end + 2] == '"':
                    text.append('"')
                    end += 2
                elif value[end] == '"':
                    end += 1
                    break
                else:
                    text.append(value[end])
                    end += 1
            elements.append("".join(text))
            comma = value.find(",", end)
        else:
            comma = value.find(",", position)
            elements.append(value[position : comma if comma >= 0 else len(value)].strip())
        if comma < 0:
            break
        position = comma + 1
    return elements


def setting_statement(database: str, role: str | None, config: str) -> str:
    """``ALTER DATABASE database SET name TO value`` (or ``ALTER ROLE role IN DATABASE``)
    for one stored ``name=value`` of ``pg_db_role_setting``."""
    name, _, value = config.partition("=")
    if name in _LIST_SETTINGS:
        shown = ", ".join(quote_literal(element) for element in _list_elements(value))
    else:
        shown = quote_literal(value)
    target = f"ROLE {quote_ident(role)} IN DATABASE" if role else "DATABASE"
    return f"ALTER {target} {quote_ident(database)} SET {quote_ident(name)} TO {shown}"


async def database_settings(admin_dsn: str | None, database: str) -> list[tuple[str | None, str]]:
    """``(role or None, "name=value")`` of each setting made for ``database`` by ``ALTER
    DATABASE ... SET`` or ``ALTER ROLE ... IN DATABASE ... SET``: what ``CREATE DATABASE
    ... TEMPLATE`` does not copy."""
    admin = await connect(admin_dsn)
    try:
        rows = await admin.fetch(_DATABASE_SETTINGS, database)
    finally:
        await admin.close()
    return [(row["role"], row["config"]) for row in rows]


async def apply_database_settings(
    admin_dsn: str | None, database: str, settings: list[tuple[str | None, str]]
) -> None:
    """Make ``settings`` (from :func:`database_settings`) the settings of ``database``."""
    if not settings:
        return
    admin = await connect(admin_dsn)
    try:
        for role, config in settings:
            await admin.execute(setting_statement(database, role, config))
    finally:
        await admin.close()
