"""Names and types as PostgreSQL resolves them: folded, quoted, schema-qualified.

The parser already folds unquoted identifiers to lower case and keeps quoted ones
exact, so a name taken from a parse tree is compared as is. Names written by people
(``catalog.table("Public.Users")``) go through :func:`parse_qualified`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from migrator.sql.parse import Node

#: PostgreSQL truncates identifiers to this many bytes (NAMEDATALEN - 1)
MAX_IDENTIFIER_BYTES = 63

_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")
_PART = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^".\s]+))\s*')


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier, quoted when it needs to be."""
    from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

    if _PLAIN.match(name) and name not in RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


class QualifiedName(NamedTuple):
    """A schema-qualified object name, both parts as stored in the catalog."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def parse_qualified(text: str) -> tuple[str | None, str]:
    """``'public.users'`` -> ``('public', 'users')``; ``'"My T"'`` -> ``(None, 'My T')``.

    Unquoted parts fold to lower case, as PostgreSQL folds them.
    """
    parts: list[str] = []
    position = 0
    while position <= len(text):
        match = _PART.match(text, position)
        if not match:
            break
        quoted, plain = match.groups()
        parts.append(quoted.replace('""', '"') if quoted is not None else plain.lower())
        position = match.end()
        if position >= len(text) or text[position] != ".":
            break
        position += 1
    if not parts:
        return None, text
    if len(parts) == 1:
        return None, parts[0]
    return parts[-2], parts[-1]


def strings(items: list[Any] | None) -> list[str]:
    """The values of a list of ``String`` nodes (names, column lists)."""
    found = []
    for item in items or ():
        value = item.get("String", {}).get("sval") if isinstance(item, dict) else None
        if value is not None:
            found.append(value)
    return found


def relation_name(range_var: Node | None) -> tuple[str | None, str]:
    """``(schema or None, name)`` of a ``RangeVar`` node."""
    range_var = range_var or {}
    return range_var.get("schemaname"), range_var.get("relname", "")


def object_name(names: list[Any] | None) -> tuple[str | None, str]:
    """``(schema or None, name)`` of a dotted name list (``DROP INDEX a.b``, types)."""
    parts = strings(names)
    if not parts:
        return None, ""
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


#: names the grammar leaves unqualified that mean a built-in type
_TYPE_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "boolean": "bool",
    "real": "float4",
    "double precision": "float8",
    "character varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "decimal": "numeric",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "serial4": "serial",
    "serial8": "bigserial",
    "serial2": "smallserial",
}

#: how a type is written in messages
_DISPLAY = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "bool": "boolean",
    "float4": "real",
    "float8": "double precision",
    "bpchar": "char",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
}


#: PostgreSQL's interval field masks (``INTERVAL_MASK`` in datetime.h) as SQL
_INTERVAL_FIELDS = {
    4: "year",
    2: "month",
    8: "day",
    1024: "hour",
    2048: "minute",
    4096: "second",
    6: "year to month",
    1032: "day to hour",
    3080: "day to minute",
    7176: "day to second",
    3072: "hour to minute",
    7168: "hour to second",
    6144: "minute to second",
}
#: ``INTERVAL_FULL_RANGE``: no fields were written
_INTERVAL_ALL_FIELDS = 0x7FFF


def _interval_modifiers(modifiers: tuple[int, ...]) -> str:
    """``interval``'s modifiers (a field mask, then the seconds' precision) as written:
    `` day to second(3)``, ``(3)``."""
    mask = modifiers[0]
    fields = "" if mask == _INTERVAL_ALL_FIELDS else f" {_INTERVAL_FIELDS.get(mask, mask)}"
    precision = f"({modifiers[1]})" if len(modifiers) > 1 else ""
    return fields + precision


@dataclass(frozen=True)
class TypeRef:
    """A column type: canonical name (``int8``, ``varchar``, ``timestamptz``), its
    schema when written qualified (other than ``pg_catalog``), modifiers and arrayness."""

    name: str
    modifiers: tuple[int, ...] = ()
    array: bool = False
    schema: str | None = None

    @property
    def sql(self) -> str:
        """The type as SQL (``varchar(20)``, ``bigint[]``)."""
        base = _DISPLAY.get(self.name, self.name)
        if self.schema:
            base = f"{quote_ident(self.schema)}.{quote_ident(self.name)}"
        if self.name == "interval" and self.modifiers and not self.schema:
            base += _interval_modifiers(self.modifiers)
        elif self.modifiers:
            base += "(" + ", ".join(str(m) for m in self.modifiers) + ")"
        return base + ("[]" if self.array else "")

    def __str__(self) -> str:
        return self.sql


def type_ref(type_name: Node | None) -> TypeRef:
    """The :class:`TypeRef` of a ``TypeName`` node."""
    type_name = type_name or {}
    names = strings(type_name.get("names"))
    schema = names[-2] if len(names) > 1 else None
    name = names[-1] if names else "unknown"
    if schema == "pg_catalog":
        schema = None
    if schema is None:
        name = _TYPE_ALIASES.get(name, name)
    modifiers = []
    for modifier in type_name.get("typmods") or ():
        constant = modifier.get("A_Const", {}) if isinstance(modifier, dict) else {}
        if "ival" in constant:
            modifiers.append(int(constant["ival"].get("ival", 0)))
    return TypeRef(name, tuple(modifiers), bool(type_name.get("arrayBounds")), schema)
