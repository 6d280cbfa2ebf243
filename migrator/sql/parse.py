"""Parse SQL into plain JSON trees (dicts), fast, with character offsets.

pglast can build Python AST objects, but that is ten times slower than asking
libpg_query for its JSON output and loading it with :func:`json.loads`. Everything in
the lint and catalog layers therefore works on the JSON form: each statement is a
``(kind, fields)`` pair such as ``("IndexStmt", {"idxname": ..., "relation": ...})``.

A file is parsed once (:func:`parse_statements`): the one JSON document gives every
statement's bounds and tree. Decoding JSON costs ten times what parsing does, so each
statement's tree stays encoded until asked for (:class:`StatementTree`); statements
nobody looks inside are never decoded.

libpg_query reports byte offsets into the UTF-8 encoding of the text; pglast's own
conversion to character offsets costs time proportional to the text for every
statement (quadratic on a large non-ASCII file), so :class:`CharOffsets` does it in one
pass instead, and only for non-ASCII text.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from migrator.sql import deep
from migrator.sql.libpg import pg_parser

#: a JSON parse-tree node's fields
Node = dict[str, Any]

#: what may stand before a statement's first token, besides comments (handled by
#: :func:`skip_comments`)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SPACE = re.compile(r"\s+")
_SPACE_OR_SEMICOLON = re.compile(r"[\s;]+")
#: the same with ``--`` comments, for when their offsets are not wanted
_SPACE_OR_LINE_COMMENT = re.compile(r"(?:\s+|--[^\n]*)+")
_SPACE_SEMICOLON_OR_LINE_COMMENT = re.compile(r"(?:[\s;]+|--[^\n]*)+")


@dataclass(frozen=True)
class ParsedStatement:
    """One statement's parse tree and where it stands in the text (character offsets).

    ``start`` is the statement's first token (leading comments skipped); ``end`` is
    exclusive and excludes the terminating semicolon and trailing whitespace. The
    ``location`` fields inside ``fields`` stay byte offsets into the parsed text.
    """

    kind: str
    fields: Node = field(compare=False, repr=False)
    start: int
    end: int


class CharOffsets:
    """Maps byte offsets of ``text.encode()`` to character offsets, in one pass."""

    def __init__(self, text: str) -> None:
        self.ascii = text.isascii()
        #: byte offset of each multi-byte character, and the extra bytes before it
        self._byte_starts: list[int] = []
        self._extra_before: list[int] = [0]
        if not self.ascii:
            extra = 0
            for match in _NON_ASCII.finditer(text):
                self._byte_starts.append(match.start() + extra)
                code = ord(match.group())
                extra += 1 if code < 0x800 else 2 if code < 0x10000 else 3
                self._extra_before.append(extra)

    def char(self, byte_offset: int) -> int:
        """The character offset of ``byte_offset``."""
        if self.ascii:
            return byte_offset
        at = bisect.bisect_left(self._byte_starts, byte_offset)
        return byte_offset - self._extra_before[at]


def skip_comments(
    text: str,
    start: int,
    end: int,
    *,
    semicolons: bool = False,
    line_comments: list[int] | None = None,
) -> int:
    """The offset of the first token at or after ``start`` (before ``end``): whitespace
    and comments skipped (and semicolons, with ``semicolons``). The offset of each
    ``--`` comment skipped is appended to ``line_comments`` when given."""
    if line_comments is None:
        space = _SPACE_SEMICOLON_OR_LINE_COMMENT if semicolons else _SPACE_OR_LINE_COMMENT
    else:
        space = _SPACE_OR_SEMICOLON if semicolons else _SPACE
    position = start
    while position < end:
        match = space.match(text, position, end)
        if match:
            position = match.end()
            continue
        if text.startswith("--", position):
            if line_comments is not None:
                line_comments.append(position)
            newline = text.find("\n", position, end)
            position = end if newline < 0 else newline
            continue
        if text.startswith("/*", position):
            depth, position = 1, position + 2
            while depth and position < end:
                if text.startswith("/*", position):
                    depth, position = depth + 1, position + 2
                elif text.startswith("*/", position):
                    depth, position = depth - 1, position + 2
                else:
                    position += 1
            continue
        break
    return min(position, end)


class StatementTree:
    """One statement's parse tree, kept as pglast's JSON until someone asks for it.

    A file is parsed once (:func:`parse_statements`); decoding the JSON is most of the
    cost, so each statement's tree is decoded on demand, and statements nobody looks
    inside (``INSERT``, ``SELECT``, a view's query) are never decoded at all.
    """

    __slots__ = ("_encoded", "_end", "_fields", "_offset", "_source", "kind")

    def __init__(
        self,
        kind: str,
        encoded: str = "",
        offset: int = 0,
        end: int = 0,
        fields: Node | None = None,
        source: str | None = None,
    ) -> None:
        self.kind = kind
        #: the JSON of the whole text; this statement's fields start at ``offset``
        self._encoded = encoded
        self._offset = offset
        self._end = end
        self._fields = fields
        #: the statement's own text, parsed again whenever its fields are asked for
        #: (:meth:`of_statement`: no tree is kept)
        self._source = source

    @classmethod
    def of_statement(cls, text: str) -> StatementTree | None:
        """The tree of ``text``, one statement, keeping only its kind: the fields are
        parsed again from ``text`` when asked for, so a file's trees are never all in
        memory at once. ``None`` when ``text`` is not exactly one statement."""
        try:
            encoded = pg_parser.parse_sql_json(text)
        except pg_parser.ParseError:
            return None
        first = _RAW_STATEMENT.search(encoded)
        if first is None:  # no statement, or not the JSON shape this module knows
            statements: list[Node] = deep.loads(encoded).get("stmts") or []
            if len(statements) != 1:
                return None
            ((kind, _),) = statements[0]["stmt"].items()
            return cls(kind, source=text)
        if _RAW_STATEMENT.search(encoded, first.end()) is not None:
            return None
        return cls(sys.intern(first.group(1)), source=text)

    def _parsed(self) -> StatementTree:
        if self._source is None:
            return self
        encoded = pg_parser.parse_sql_json(self._source)
        located = _locate(encoded)
        if located is None:
            ((kind, fields),) = deep.loads(encoded)["stmts"][0]["stmt"].items()
            return StatementTree(kind, fields=fields)
        return located[0][1]

    def fields(self, *, view_query: bool = True) -> Node:
        """The statement's fields (``{"idxname": ..., "relation": ...}``). With
        ``view_query=False`` a ``CREATE VIEW``'s query is left out (``{}``)."""
        if self._source is not None:
            return self._parsed().fields(view_query=view_query)
        if self._fields is not None:
            return self._fields
        if not view_query and self.kind == "ViewStmt":
            header = _view_fields(self._encoded, self._offset, self._end)
            if header is not None:
                return header
        fields: Node = _decode(self._encoded, self._offset)[0]
        return fields

    def leading_field(self, key: str) -> Node | None:
        """``{key: value}`` when ``key`` is the statement's first field, decoding only that
        field (an ``UPDATE``'s ``relation`` without its often large ``SET`` list and
        ``WHERE``); ``None`` otherwise."""
        if self._source is not None:
            return self._parsed().leading_field(key)
        if self._fields is not None:
            return {key: self._fields[key]} if key in self._fields else None
        start = '{"' + key + '":'
        if not self._encoded.startswith(start, self._offset):
            return None
        try:
            value, _ = _decode(self._encoded, self._offset + len(start))
        except ValueError:
            return None
        return {key: value}

    def range_var_names(self) -> list[tuple[str | None, str]] | None:
        """``(schema or None, name)`` of every ``RangeVar`` node of the tree, wherever
        it stands (a ``FROM``, a ``WITH`` query, a ``RETURNING`` subquery), read from the
        JSON without decoding it; a ``RangeVar`` held without the node's wrapper (an
        ``INSERT``'s target) is not among them. ``None`` when the JSON is not at hand
        (a decoded tree) or not of the expected shape."""
        if self._source is not None:
            return self._parsed().range_var_names()
        if self._fields is not None:
            return None
        return _range_var_names(self._encoded, self._offset, self._end)


#: the start of each statement in pglast's JSON: ``{"stmt":{"<Kind>":`` (a JSON string
#: holds ``\"``, never a bare ``"``, so this never matches inside one; only ``RawStmt``
#: has a field named ``stmt``)
_RAW_STATEMENT = re.compile(r'\{"stmt":\{"(\w+)":')
#: the keys that end a ``RawStmt``: its byte location and length (each left out when 0);
#: no other node has fields of these names
_LOCATION_KEY = ',"stmt_location":'
_LENGTH_KEY = ',"stmt_len":'
#: longer than any ``RawStmt`` tail (two keys, two 10-digit numbers, 3 closing characters)
_TAIL_WINDOW = 64


def parse_statements(text: str) -> list[tuple[int, int, StatementTree]] | None:
    """``(start, end, tree)`` of every statement of ``text``, from one parse; ``None``
    when the text does not parse.

    ``start`` is the statement's first token (leading comments skipped); ``end`` is
    exclusive and excludes the terminating semicolon and trailing whitespace (what
    ``pglast.parser.split`` returns, with leading comments skipped), computed in time
    linear in the text. Trees are decoded on demand (:meth:`StatementTree.fields`).
    """
    try:
        encoded = pg_parser.parse_sql_json(text)
    except pg_parser.ParseError:
        return None
    located = _locate(encoded)
    if located is None:  # not the JSON shape this module knows: decode it all
        tree = deep.loads(encoded)
        located = []
        for raw in tree.get("stmts") or ():
            ((kind, fields),) = raw["stmt"].items()
            location = (raw.get("stmt_location", 0), raw.get("stmt_len", 0))
            located.append((location, StatementTree(kind, fields=fields)))
    offsets = CharOffsets(text)
    encoded_length = len(text) if offsets.ascii else len(text.encode("utf-8"))
    statements = []
    for (byte_start, length), statement_tree in located:
        start = offsets.char(byte_start)
        end = offsets.char(byte_start + (length or encoded_length - byte_start))
        while end > start and text[end - 1].isspace():
            end -= 1
        statements.append((skip_comments(text, start, end), end, statement_tree))
    return statements


def _locate(encoded: str) -> list[tuple[tuple[int, int], StatementTree]] | None:
    """Each statement's ``(byte location, byte length)`` and still-encoded tree, found
    without decoding the JSON; ``None`` if the JSON does not have the expected shape."""
    starts = [match.span(1) for match in _RAW_STATEMENT.finditer(encoded)]
    located = []
    last = len(starts) - 1
    for number, (kind_start, kind_end) in enumerate(starts):
        offset = kind_end + 2  # past the kind's closing quote and the colon
        # up to the next statement's '{"stmt":{"', or the end; the RawStmt's own "}"
        # comes before a "," or, for the last statement, before "]}"
        end = starts[number + 1][0] - len('{"stmt":{"') if number < last else len(encoded)
        closing = end - 2 if number < last else end - 3
        if encoded[closing] != "}" or encoded[closing + 1] not in ",]":
            return None
        window = max(offset, closing - _TAIL_WINDOW)
        location = _tail_number(encoded, _LOCATION_KEY, window, closing)
        length = _tail_number(encoded, _LENGTH_KEY, window, closing)
        if location is None or length is None:
            return None
        tree = StatementTree(sys.intern(encoded[kind_start:kind_end]), encoded, offset, end)
        located.append(((location, length), tree))
    return located


def _tail_number(encoded: str, key: str, start: int, end: int) -> int | None:
    """The number after ``key`` in ``encoded[start:end]`` (it ends at a comma or at
    ``end``): 0 when the key is absent, ``None`` when what follows it is no number."""
    at = encoded.rfind(key, start, end)
    if at < 0:
        return 0
    at += len(key)
    comma = encoded.find(",", at, end)
    digits = encoded[at : end if comma < 0 else comma]
    return int(digits) if digits.isdigit() else None


def parse_text(text: str) -> list[ParsedStatement] | None:
    """Every statement of ``text`` with its tree; ``None`` when the text does not parse."""
    statements = parse_statements(text)
    if statements is None:
        return None
    return [
        ParsedStatement(tree.kind, tree.fields(), start, end) for start, end, tree in statements
    ]


_DECODER = json.JSONDecoder()

#: the key of a wrapped ``RangeVar`` node (a bare ``"`` in pglast's JSON only delimits a
#: string, so this is never inside one), and the names the node starts with
_RANGE_VAR_KEY = '"RangeVar":'
_RANGE_VAR = re.compile(
    r'"RangeVar":\{(?:"catalogname":"(?:[^"\\]|\\.)*",)?'
    r'(?:"schemaname":"((?:[^"\\]|\\.)*)",)?"relname":"((?:[^"\\]|\\.)*)"'
)


def _range_var_names(encoded: str, start: int, end: int) -> list[tuple[str | None, str]] | None:
    """``(schema or None, name)`` of every ``RangeVar`` in ``encoded[start:end]``;
    ``None`` when one of them does not start as expected."""
    names: list[tuple[str | None, str]] = []
    for match in _RANGE_VAR.finditer(encoded, start, end):
        schema, name = match.groups()
        if schema is not None and "\\" in schema:
            schema = json.loads(f'"{schema}"')
        if "\\" in name:
            name = json.loads(f'"{name}"')
        names.append((schema, name))
    if len(names) != encoded.count(_RANGE_VAR_KEY, start, end):
        return None
    return names


def _decode(encoded: str, offset: int) -> tuple[Any, int]:
    """:func:`deep.raw_decode`, without its wrapper for the usual tree (this runs for
    every statement a rule looks inside)."""
    try:
        return _DECODER.raw_decode(encoded, offset)
    except RecursionError:
        return deep.raw_decode(encoded, offset)


_VIEW_START = '{"view":'


def _view_fields(encoded: str, offset: int, end: int) -> Node | None:
    """A ``ViewStmt``'s fields without its (often huge) query: only ``view`` and
    ``replace`` are decoded. ``None`` when the JSON does not have the expected shape.

    ``replace`` is the only field named so that a view's query cannot hold (no node of a
    ``SELECT`` has one), so finding ``"replace":true`` in the statement's JSON is exact.
    """
    if not encoded.startswith(_VIEW_START, offset):
        return None
    try:
        view, _ = deep.raw_decode(encoded, offset + len(_VIEW_START))
    except ValueError:
        return None
    fields: Node = {"view": view, "query": {}}
    if encoded.find('"replace":true', offset, end) != -1:
        fields["replace"] = True
    return fields


def view_header(fields: Node) -> Node:
    """A decoded ``ViewStmt``'s fields as :func:`_view_fields` gives them without
    decoding: ``view`` and ``replace``, the query left out (``{}``)."""
    header: Node = {"view": fields.get("view"), "query": {}}
    if fields.get("replace"):
        header["replace"] = True
    return header


def parse_one(text: str, *, view_query: bool = True) -> tuple[str, Node] | None:
    """``(kind, fields)`` of the first statement of ``text`` (meant for a single
    statement); ``None`` if it does not parse or holds no statement. With
    ``view_query=False`` a ``CREATE VIEW``'s query is left out (``fields["query"] ==
    {}``): decoding it is most of the cost of a view."""
    try:
        encoded = pg_parser.parse_sql_json(text)
    except pg_parser.ParseError:
        return None
    located = _locate(encoded)
    if located is None:
        statements = deep.loads(encoded).get("stmts") or ()
        if not statements:
            return None
        ((kind, fields),) = statements[0]["stmt"].items()
        return kind, fields
    if not located:
        return None
    _, tree = located[0]
    return tree.kind, tree.fields(view_query=view_query)
