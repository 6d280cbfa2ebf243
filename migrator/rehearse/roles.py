"""Roles are cluster-wide: a rehearsal on a shared server must clean up the ones its
migrations created, and must not blame other sessions' role changes on a migration.

PostgreSQL does not record which session created a role, so "the migration's roles"
are the roles whose names the migration's files mention (as an identifier, quoted or
not, or inside a string such as a ``DO`` block's ``EXECUTE``). A role whose name a
migration builds at run time (``'app_' || x``) is not seen; that limit is documented
in docs/dry-run.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from migrator.schema.load import drop_roles
from migrator.schema.model import Schema
from migrator.source.model import Migration

_QUOTED = re.compile(r'"((?:[^"]|"")+)"')
_BARE = re.compile(r"[A-Za-z_\u0080-\uffff][\w$]*")


def mentioned_names(texts: Iterable[str]) -> frozenset[str]:
    """Every name ``texts`` could refer to a role by: bare words folded to lower case
    (as PostgreSQL folds unquoted identifiers), quoted identifiers as written."""
    names: set[str] = set()
    for text in texts:
        names.update(match.replace('""', '"') for match in _QUOTED.findall(text))
        names.update(word.lower() for word in _BARE.findall(_QUOTED.sub(" ", text)))
    return frozenset(names)


def migration_names(migrations: Iterable[Migration]) -> frozenset[str]:
    """:func:`mentioned_names` of the up and down files of ``migrations``."""
    return mentioned_names(file.text for migration in migrations for file in migration.files())


def only_roles(schema: Schema, names: frozenset[str]) -> Schema:
    """``schema`` with the roles not in ``names`` left out."""
    if all(obj.name in names for obj in schema.of_kind("role")):
        return schema
    return Schema.of(obj for obj in schema if obj.kind != "role" or obj.name in names)


async def role_names(connection: Any) -> set[str]:
    """The names of the server's roles."""
    rows = await connection.fetch("SELECT rolname FROM pg_catalog.pg_roles")
    return {str(row["rolname"]) for row in rows}


async def drop_new_roles(connection: Any, before: set[str], names: frozenset[str]) -> None:
    """Drop the roles that did not exist in ``before`` and whose names are in ``names``
    (the rehearsed migrations created them), where nothing on the server uses them."""
    created = sorted((await role_names(connection) - before) & names)
    await drop_roles(connection, created)
