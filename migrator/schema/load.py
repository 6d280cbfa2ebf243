"""Load a schema file into a (scratch) database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from migrator.db.quoting import quote_ident
from migrator.errors import UsageError
from migrator.schema.schema_file import SchemaFile, read_schema_file


async def create_missing_roles(connection: Any, roles: tuple[str, ...]) -> list[str]:
    """Create every role in ``roles`` that does not exist (``NOLOGIN``, no password), so
    that grants and policies in a schema file load; returns the ones created."""
    existing = {
        str(row["rolname"])
        for row in await connection.fetch(
            "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY($1::text[])",
            list(roles),
        )
    }
    created = []
    for role in roles:
        if role not in existing:
            await connection.execute(f"CREATE ROLE {quote_ident(role)} NOLOGIN")
            created.append(role)
    return created


async def drop_roles(connection: Any, roles: list[str]) -> None:
    """Drop roles a rehearsal made, where nothing depends on them any more (another
    database of the cluster may have started using one); a role the server refuses to
    drop is left in place."""
    for role in roles:
        in_use = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend AS d"
            " JOIN pg_catalog.pg_roles AS r ON r.oid = d.refobjid"
            " WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass AND r.rolname = $1)",
            role,
        )
        if not in_use:
            try:
                await connection.execute(f"DROP ROLE IF EXISTS {quote_ident(role)}")
            except asyncpg.PostgresError:  # still a member of, or granted by, another
                continue


async def load_statements(connection: Any, schema_file: SchemaFile, path: str) -> None:
    """Run the file's statements in order, in one transaction; a failing statement is
    reported with its line and the server's message. The session settings the file
    changes (``search_path`` above all) are reset afterwards."""
    try:
        await _run_statements(connection, schema_file, path)
    finally:
        if not connection.is_closed():
            await connection.execute("RESET ALL")


async def _run_statements(connection: Any, schema_file: SchemaFile, path: str) -> None:
    async with connection.transaction():
        for line, statement in zip(schema_file.lines, schema_file.statements, strict=True):
            try:
                await connection.execute(statement)
            except Exception as exc:  # the server's error becomes one line
                message = getattr(exc, "message", None) or str(exc)
                raise UsageError(
                    f"{path}:{line}: the schema file does not load: {message}",
                    hint="give a file from `migrate schema dump` or `pg_dump --schema-only` "
                    "made by this PostgreSQL major version or older",
                ) from None


async def load_schema_path(
    connection: Any, path: Path, *, ledger_table: str = "migrator_ledger"
) -> tuple[SchemaFile, list[str]]:
    """Read ``path`` and load it into the database of ``connection``; returns the
    parsed file and the roles that had to be created for it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read schema file {path}: {exc}") from None
    schema_file = read_schema_file(text, path=str(path), ledger_table=ledger_table)
    created = await create_missing_roles(connection, schema_file.roles)
    await load_statements(connection, schema_file, str(path))
    return schema_file, created
