"""Quoting of identifiers and literals we compose into SQL ourselves.

Everything configurable that ends up in SQL text (the ledger's schema and table, index
names reported back to users) goes through these functions; values go through query
parameters instead wherever the protocol allows it.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """``name`` as a quoted identifier: ``users`` -> ``"users"``, ``a"b`` -> ``"a""b"``.

    Always quotes, so a reserved word or mixed case keeps its meaning. A NUL byte is
    refused: PostgreSQL identifiers cannot hold one.
    """
    if "\x00" in name:
        raise ValueError("an identifier cannot contain a NUL byte")
    if not name:
        raise ValueError("an identifier cannot be empty")
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(schema: str, name: str) -> str:
    """``"schema"."name"``."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(value: str) -> str:
    """``value`` as a standard SQL string literal (for SQL we print, never for SQL we
    send with user values: those use parameters)."""
    if "\x00" in value:
        raise ValueError("a string literal cannot contain a NUL byte")
    return "'" + value.replace("'", "''") + "'"


def sql_literal(value: str | int | bool | None) -> str:
    """``value`` as a constant in SQL text we send (where a parameter cannot go, such as
    the arguments of ``EXECUTE`` in a string of several statements).

    Text becomes an escape-string constant (``E'...'``, backslashes and quotes
    doubled), which reads the same whatever ``standard_conforming_strings`` is; asyncpg
    always talks UTF-8, so no multibyte sequence can hide a quote. A NUL byte is refused.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if "\x00" in value:
        raise ValueError("a string literal cannot contain a NUL byte")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
