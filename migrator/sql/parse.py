"""Parse SQL into plain JSON trees (dicts), fast, with character offsets.

pglast can build Python AST objects, but that is ten times slower than asking
libpg_query for its JSON output and loading it with :func:`json.loads`. Everything in
the lint and catalog layers therefore works on the JSON form: each statement is a
``(kind, fields)`` pair such as ``("IndexStmt", {"idxname": ..., "relation": ...})``.

libpg_query reports byte offsets into the UTF-8 encoding of the text; pglast's own
conversion to character offsets costs time proportional to the text for every
statement (quadratic on a large non-ASCII file), so :class:`CharOffsets` does it in one
pass instead.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pglast import parser as pg_parser

#: a JSON parse-tree node's fields
Node = dict[str, Any]

#: whitespace and comments before a statement's first token (nested ``/* */`` are handled
#: by :func:`skip_comments`)
_SPACE_OR_LINE_COMMENT = re.compile(r"(?:\s+|--[^\n]*)+")


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
        self._ascii = text.isascii()
        #: byte offset of each multi-byte character, and the extra bytes before it
        self._byte_starts: list[int] = []
        self._extra_before: list[int] = [0]
        if not self._ascii:
            extra = 0
            for char_index, char in enumerate(text):
                if ord(char) > 127:
                    self._byte_starts.append(char_index + extra)
                    extra += len(char.encode("utf-8")) - 1
                    self._extra_before.append(extra)

    def char(self, byte_offset: int) -> int:
        """The character offset of ``byte_offset``."""
        if self._ascii:
            return byte_offset
        at = bisect.bisect_left(self._byte_starts, byte_offset)
        return byte_offset - self._extra_before[at]


def skip_comments(text: str, start: int, end: int) -> int:
    """The offset of the first token at or after ``start`` (before ``end``)."""
    position = start
    while position < end:
        match = _SPACE_OR_LINE_COMMENT.match(text, position, end)
        if match:
            position = match.end()
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


def parse_text(text: str) -> list[ParsedStatement] | None:
    """Every statement of ``text`` with its tree; ``None`` when the text does not parse."""
    try:
        tree = json.loads(pg_parser.parse_sql_json(text))
    except pg_parser.ParseError:
        return None
    offsets = CharOffsets(text)
    encoded_length = len(text) if text.isascii() else len(text.encode("utf-8"))
    statements = []
    for raw in tree.get("stmts") or ():
        byte_start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0) or encoded_length - byte_start
        start = offsets.char(byte_start)
        end = offsets.char(byte_start + length)
        while end > start and text[end - 1].isspace():
            end -= 1
        start = skip_comments(text, start, end)
        ((kind, fields),) = raw["stmt"].items()
        statements.append(ParsedStatement(kind, fields, start, end))
    return statements


_VIEW_PREFIX = re.compile(r'\{"version":\d+,"stmts":\[\{"stmt":\{"ViewStmt":\{"view":')
_DECODER = json.JSONDecoder()


def _view_header(encoded: str) -> tuple[str, Node] | None:
    """A ``ViewStmt`` without its (often huge) query: only ``view`` and ``replace`` are
    decoded. ``None`` when the JSON does not have the expected shape."""
    match = _VIEW_PREFIX.match(encoded)
    if match is None:
        return None
    try:
        view, _ = _DECODER.raw_decode(encoded, match.end())
    except ValueError:
        return None
    fields: Node = {"view": view, "query": {}}
    if '"replace":true' in encoded[-200:]:
        fields["replace"] = True
    return "ViewStmt", fields


def parse_one(text: str, *, view_query: bool = True) -> tuple[str, Node] | None:
    """``(kind, fields)`` of the single statement ``text``; ``None`` if it does not parse
    or holds no statement. With ``view_query=False`` a ``CREATE VIEW``'s query is left
    out (``fields["query"] == {}``): decoding it is most of the cost of a view."""
    try:
        encoded = pg_parser.parse_sql_json(text)
    except pg_parser.ParseError:
        return None
    if not view_query and encoded.startswith('{"version":') and '"ViewStmt"' in encoded[:60]:
        header = _view_header(encoded)
        if header is not None:
            return header
    tree = json.loads(encoded)
    statements = tree.get("stmts") or ()
    if not statements:
        return None
    ((kind, fields),) = statements[0]["stmt"].items()
    return kind, fields


def statement_bounds(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of each statement: first token to last token
    before the semicolon (what ``pglast.parser.split(..., only_slices=True)`` returns,
    with leading comments skipped), in time linear in the text.

    pglast's ``only_slices`` converts every byte offset by walking the text from the
    start, which is quadratic on non-ASCII text; here each statement's text is found
    after the previous one instead. Raises ``pglast.parser.ParseError`` when the text
    does not parse.
    """
    bounds = []
    position = 0
    for piece in pg_parser.split(text, with_parser=True):
        start = text.find(piece, position)
        if start < 0:  # cannot happen: pieces are substrings, in order
            raise pg_parser.ParseError("statement not found in text", position)
        end = start + len(piece)
        bounds.append((skip_comments(text, start, end), end))
        position = end
    return bounds
