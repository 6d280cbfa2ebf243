"""Compare a database's schema with a committed schema file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrator.db.quoting import quote_ident
from migrator.schema.diff import diff_lines
from migrator.schema.introspect import Exclusions, read_schema
from migrator.schema.load import drop_roles, load_schema_path
from migrator.schema.model import Schema


async def schema_of_file(
    path: Path, scratch_connection: Any, exclusions: Exclusions | None = None
) -> Schema:
    """Load ``path`` into the empty database of ``scratch_connection`` and read it back.

    Roles the file names but the server lacks are created for the load and dropped
    again where nothing depends on them.
    """
    exclusions = exclusions or Exclusions()
    ledger_table = exclusions.tables[0] if exclusions.tables else "migrator_ledger"
    _, created = await load_schema_path(scratch_connection, path, ledger_table=ledger_table)
    try:
        return await read_schema(scratch_connection, exclusions=exclusions)
    finally:
        if created:
            roles = ", ".join(quote_ident(role) for role in created)
            await scratch_connection.execute(f"DROP OWNED BY {roles}")
            await drop_roles(scratch_connection, created)


async def compare_with_file(
    actual: Schema,
    path: Path,
    scratch_connection: Any,
    exclusions: Exclusions | None = None,
) -> list[str]:
    """What ``actual`` (a database's schema) has that the schema file ``path`` does
    not, and the reverse, as readable lines; empty when they match.

    ``scratch_connection`` is a connection to an empty database on the same server
    (same major version), where the file is loaded to be read from the catalog, so
    formatting differences in the file never count.
    """
    expected = await schema_of_file(path, scratch_connection, exclusions)
    return diff_lines(expected, actual.without_kinds(["role"]))
