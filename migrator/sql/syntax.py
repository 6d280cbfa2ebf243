"""Statements as pglast's Python AST nodes, for code that rewrites SQL (the planner).

Reading is done on the JSON tree (:mod:`migrator.sql.parse`): it is ten times cheaper.
Code that changes a statement and prints it again (a subcommand of an ``ALTER TABLE``
on its own, a column renamed inside an expression, ``CONCURRENTLY`` added to a
``REINDEX``) needs nodes it can modify and pglast's printer, and gets them here:

- :func:`parse_node` parses one statement into nodes, :func:`deparse` prints any node;
- :func:`kind_of` / :func:`is_node` name a node's type (the node classes are dynamic:
  narrowing on them would hide their attributes from the type checker), and
  :func:`make` / :func:`string` build new nodes;
- :func:`walk` visits every node below one, without recursion;
- :func:`quote_name` quotes an identifier only when PostgreSQL needs it;
- the parse tree's enumerations (``AlterTableType``, ``ConstrType``, ...) are in
  :mod:`migrator.sql.enums`.

Nodes are typed ``Any`` (:data:`SyntaxNode`): pglast builds their classes from
PostgreSQL's headers and their attributes are not known to the type checker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from migrator.sql.deep import deeply
from migrator.sql.libpg import pg_parser

#: a pglast AST node (or a tuple of them, as pglast keeps lists)
SyntaxNode = Any


def parse_nodes(text: str) -> list[SyntaxNode]:
    """The AST of every statement of ``text`` (raises pglast's ``ParseError`` when it
    does not parse; meant for text that parsed before, or that the planner wrote)."""
    return [raw.stmt for raw in deeply(pg_parser.parse_sql, text)]


def parse_node(text: str) -> SyntaxNode:
    """The AST of the first (meant: the one) statement of ``text``."""
    return parse_nodes(text)[0]


def deparse(node: SyntaxNode) -> str:
    """The SQL text of ``node`` (a statement, an expression, a constraint), printed by
    pglast however deep it is."""
    from pglast.stream import RawStream

    return str(deeply(RawStream(), node))


def quote_name(name: str) -> str:
    """``name`` as an identifier, double-quoted only when it must be."""
    from pglast.stream import maybe_double_quote_name

    return str(maybe_double_quote_name(name))


def _ast() -> Any:
    from pglast import ast

    return ast


def is_node(value: Any, kind: str | None = None) -> bool:
    """``value`` is an AST node (of type ``kind``, by name, when given)."""
    ast = _ast()
    return isinstance(value, ast.Node) and (kind is None or type(value).__name__ == kind)


def kind_of(node: SyntaxNode) -> str:
    """The node's type name (``"AlterTableStmt"``), as in the JSON tree."""
    return type(node).__name__


def make(kind: str, **fields: Any) -> SyntaxNode:
    """A new node of type ``kind`` (``make("DefElem", defname="concurrently")``)."""
    return getattr(_ast(), kind)(**fields)


def string(value: str) -> SyntaxNode:
    """A ``String`` node (a name in a column or key list)."""
    return make("String", sval=value)


def walk(
    node: SyntaxNode,
    visit: Callable[[SyntaxNode], None],
    skip: Callable[[SyntaxNode, str], bool] | None = None,
) -> None:
    """``visit`` every node under ``node`` (itself included), parents first, in field
    order, with a stack of its own so that SQL nested as deep as PostgreSQL takes is
    walked. ``skip(node, field)`` true leaves that field of that node unvisited."""
    ast = _ast()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple | list):
            stack.extend(reversed(current))
            continue
        if not isinstance(current, ast.Node):
            continue
        visit(current)
        children = [
            getattr(current, name) for name in current if skip is None or not skip(current, name)
        ]
        stack.extend(reversed(children))
