"""Composing the SQL the planner writes: quoted names, deparsed nodes, and column
references renamed inside expressions, index definitions and constraints.

Everything goes through PostgreSQL's own grammar (:mod:`migrator.sql.syntax`): names
are quoted when they need it (``"User"``, ``"order"``) and left plain otherwise, so the
written migrations read like a person wrote them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from migrator.sql.syntax import deparse, is_node, parse_node, quote_name, string, walk

#: the longest identifier PostgreSQL keeps (NAMEDATALEN - 1)
_NAME_BYTES = 63


def ident(name: str) -> str:
    """``name`` as an identifier, quoted only when it must be."""
    if "\x00" in name or not name:
        raise ValueError(f"invalid identifier {name!r}")
    return quote_name(name)


def qualified(schema: str | None, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}" if schema else ident(name)


def object_name(items: Any) -> tuple[str | None, str]:
    """``(schema or None, name)`` of a ``DROP``'s object name list (``[s, ] name``)."""
    parts = [item.sval for item in items]
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def literal(text: str) -> str:
    """A standard SQL string literal."""
    if "\x00" in text:
        raise ValueError("a string literal cannot contain a NUL byte")
    return "'" + text.replace("'", "''") + "'"


def parse_statement(text: str) -> Any:
    """The AST of the one statement in ``text`` (:func:`migrator.sql.syntax.parse_node`)."""
    return parse_node(text)


def bounded_name(*parts: str, suffix: str) -> str:
    """``part1_part2_suffix``, or, when that is longer than PostgreSQL's 63 bytes, cut
    and marked with a hash of the whole name (``..._1a2b3c4d_suffix``): two long names
    that share their first 50 bytes still differ (the server would cut both to the same
    name, and the second ``CREATE`` would fail)."""
    label = "_".join(parts)
    if len(f"{label}_{suffix}".encode()) <= _NAME_BYTES:
        return f"{label}_{suffix}"
    mark = hashlib.sha256(f"{label}_{suffix}".encode()).hexdigest()[:8]
    room = _NAME_BYTES - len(suffix.encode()) - len(mark) - 2
    while len(label.encode()) > room:
        label = label[:-1]
    return f"{label}_{mark}_{suffix}"


_is = is_node


def _referenced_columns(node: Any, field: str) -> bool:
    """A foreign key's ``pk_attrs``: the referenced table's columns, not this one's."""
    return field == "pk_attrs" and is_node(node, "Constraint")


def _walk(node: Any, visit: Callable[[Any], None]) -> None:
    """``visit`` every AST node under ``node`` (:func:`migrator.sql.syntax.walk`), the
    columns a foreign key references left out."""
    walk(node, visit, _referenced_columns)


def _renamer(mapping: Mapping[str, str], record_prefix: str | None) -> Callable[[Any], None]:
    def visit(node: Any) -> None:
        if _is(node, "ColumnRef"):
            fields = list(node.fields)
            last: Any = fields[-1]
            if _is(last, "String"):
                column = last.sval
                if column in mapping:
                    fields[-1] = string(mapping[column])
                if record_prefix is not None and len(fields) == 1:
                    fields.insert(0, string(record_prefix.lower()))
                node.fields = tuple(fields)
        elif _is(node, "IndexElem") and node.name in mapping:
            node.name = mapping[node.name]
        elif _is(node, "Constraint"):
            for attribute in ("keys", "fk_attrs", "including"):
                names = getattr(node, attribute)
                if names:
                    setattr(
                        node,
                        attribute,
                        tuple(
                            string(mapping.get(item.sval, item.sval))
                            if _is(item, "String")
                            else item
                            for item in names
                        ),
                    )

    return visit


def rename_in_expression(
    expression: str, mapping: Mapping[str, str], *, record: str | None = None
) -> str:
    """``expression`` with column references renamed by ``mapping``; with ``record``
    every unqualified column reference is qualified by it (``NEW.col`` in a trigger)."""
    statement = parse_statement(f"SELECT {expression}")
    target = statement.targetList[0].val
    _walk(target, _renamer(mapping, record))
    return deparse(target)


def rename_in_constraint(definition: str, mapping: Mapping[str, str]) -> str:
    """A constraint definition (``CHECK (a > 0)``, ``FOREIGN KEY (a) REFERENCES p (id)``)
    with its own columns renamed."""
    statement = parse_statement(f"ALTER TABLE t ADD {definition}")
    constraint = statement.cmds[0].def_
    _walk(constraint, _renamer(mapping, None))
    constraint.conname = None
    return deparse(constraint)


def rename_in_index_body(body: str, mapping: Mapping[str, str]) -> str:
    """The part of an index definition after ``ON table`` with columns renamed."""
    statement = parse_statement(f"CREATE INDEX i ON t {body}")
    _walk(statement, _renamer(mapping, None))
    text = deparse(statement)
    marker = " ON t "
    return text[text.index(marker) + len(marker) :]


def mentioned_columns(node: Any) -> list[str]:
    """Column names a node mentions (column references, index elements, constraint
    column lists), in order of appearance."""
    found: list[str] = []

    def add(name: str | None) -> None:
        if name and name not in found:
            found.append(name)

    def visit(item: Any) -> None:
        if _is(item, "ColumnRef") and _is(item.fields[-1], "String"):
            add(item.fields[-1].sval)
        elif _is(item, "IndexElem"):
            add(item.name)
        elif _is(item, "Constraint"):
            for attribute in ("keys", "fk_attrs", "including"):
                for name in getattr(item, attribute) or ():
                    if is_node(name, "String"):
                        add(name.sval)

    _walk(node, visit)
    return found


def column_references(node: Any) -> list[tuple[str | None, str]]:
    """``(qualifier or None, column)`` of every column reference under ``node``."""
    found: list[tuple[str | None, str]] = []

    def visit(item: Any) -> None:
        if _is(item, "ColumnRef") and _is(item.fields[-1], "String"):
            names = [part.sval for part in item.fields if _is(part, "String")]
            found.append((names[-2] if len(names) > 1 else None, names[-1]))

    _walk(node, visit)
    return found


def mentioned_relations(node: Any) -> list[tuple[str | None, str]]:
    """``(schema, name)`` of every table a statement names (``schema`` as written)."""
    found: list[tuple[str | None, str]] = []

    def visit(item: Any) -> None:
        if _is(item, "RangeVar") and (item.schemaname, item.relname) not in found:
            found.append((item.schemaname, item.relname))

    _walk(node, visit)
    return found


def named_columns(node: Any) -> set[str]:
    """Every name a statement may use as a column: :func:`mentioned_columns`, and the
    columns it adds, alters, renames or assigns (``SET c = ...``). Errs on the side of
    more (an ``ALTER TABLE`` subcommand's name may be a constraint's)."""
    found = set(mentioned_columns(node))

    def visit(item: Any) -> None:
        if _is(item, "ColumnDef"):
            found.add(item.colname)
        elif _is(item, "AlterTableCmd") or _is(item, "ResTarget"):
            if item.name:
                found.add(item.name)
        elif _is(item, "RenameStmt") and item.subname:
            found.add(item.subname)

    _walk(node, visit)
    return found


def columns_in_expression(expression: str) -> list[str]:
    """Column names referenced by ``expression``, in order of appearance."""
    return mentioned_columns(parse_statement(f"SELECT {expression}").targetList[0].val)


def excerpt(source: str, width: int = 60) -> str:
    """``source`` on one line, cut to ``width`` characters, for messages."""
    text = " ".join(source.split())
    return text if len(text) <= width else text[: width - 3] + "..."
