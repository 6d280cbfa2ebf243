"""Quoting of identifiers and literals we compose into SQL ourselves.

Everything configurable that ends up in SQL text (the ledger's schema and table, index
names reported back to users) goes through these functions; values go through query
parameters instead wherever the protocol allows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


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


_PARAMETER = re.compile(r"\$(\d+)")


def sql_literal(value: object) -> str:
    """A Python value as an SQL literal: ``NULL``, ``true``, ``42``, ``E'it''s'``.

    Strings use the ``E''`` form with quotes and backslashes doubled, so the result
    means the same whatever ``standard_conforming_strings`` says.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string literal cannot contain a NUL byte")
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def inline_parameters(sql: str, parameters: Sequence[object]) -> str:
    """``sql`` with each ``$n`` replaced by the literal of ``parameters[n-1]``, for
    sending it together with other statements in one round trip. ``sql`` must be our
    own text (no dollar quotes)."""
    return _PARAMETER.sub(lambda match: sql_literal(parameters[int(match.group(1)) - 1]), sql)
