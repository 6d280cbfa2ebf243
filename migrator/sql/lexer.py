"""Where a text's statements start and end, found by a small lexer that knows only
what can hide a semicolon: strings (``'...'``, ``E'...'`` with backslash escapes),
quoted names (``"..."``), dollar quotes (``$tag$ ... $tag$``), ``--`` and nested
``/* */`` comments. It keeps nothing but offsets, so splitting a file costs memory
in proportion to its largest statement, not to the file (pglast's scanner and parser
build the whole file's token list or tree at once).

The pieces are what PostgreSQL's own split gives for a text that parses (the
statement's first token to its last character before the semicolon, trailing white
space left out), except where its grammar itself holds a semicolon (``BEGIN ATOMIC ...
END``, ``CREATE RULE ... DO (...; ...)``): the caller joins such pieces again
(:func:`migrator.sql.split.split_statements`). An unterminated string, name, dollar
quote or comment runs to the end of the text. ``tests/sql/test_lexer.py`` checks the
pieces against pglast's split, generated and on the corpora.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from migrator.sql.parse import skip_comments

#: a character that may continue an identifier (PostgreSQL: letters, digits, ``_``,
#: ``$`` and every byte with the high bit set)
#: ``[^\x00-\x7f]`` is every non-ASCII character: a class spelled as the range up to
#: U+10FFFF takes ~6 ms to compile, on every start of the command
_IDENT = re.compile(r"[A-Za-z0-9_$]|[^\x00-\x7f]")
#: the next thing that matters: a semicolon, or what may start something that hides one
_NEXT = re.compile(r"[;'\"$]|--|/\*")
_DOLLAR_QUOTE = re.compile(r"\$(?:(?:[A-Za-z_]|[^\x00-\x7f])(?:[A-Za-z0-9_]|[^\x00-\x7f])*)?\$")
_STRING_REST = re.compile(r"[^']*(?:''[^']*)*'")
_ESCAPE_STRING_REST = re.compile(r"(?:[^'\\]|\\.|'')*'", re.DOTALL)
_NAME_REST = re.compile(r'[^"]*(?:""[^"]*)*"')
_COMMENT_MARK = re.compile(r"/\*|\*/")
_COMMENT_START = re.compile(r"--|/\*")


def _after_block_comment(text: str, position: int) -> int:
    """The offset after the ``/* ... */`` (nested) that opens at ``position``."""
    depth = 0
    for mark in _COMMENT_MARK.finditer(text, position):
        depth += 1 if mark.group() == "/*" else -1
        if depth == 0:
            return mark.end()
    return len(text)


def _starts_token(text: str, position: int) -> bool:
    """Whether a token may start at ``position`` (no identifier runs into it)."""
    return position == 0 or _IDENT.match(text, position - 1) is None


def _after(text: str, position: int) -> int:
    """The offset after the string, name, dollar quote or comment that starts at
    ``position`` (one of ``'"$-/``); ``position + 1`` for a ``$`` that starts none."""
    mark = text[position]
    if mark == "-":
        newline = text.find("\n", position)
        return len(text) if newline < 0 else newline
    if mark == "/":
        return _after_block_comment(text, position)
    if mark == "$":
        tag = _DOLLAR_QUOTE.match(text, position)
        if tag is None or not _starts_token(text, position):
            return position + 1  # a parameter ($1) or part of a name (a$b)
        close = text.find(tag.group(), tag.end())
        return len(text) if close < 0 else close + len(tag.group())
    if mark == '"':
        rest = _NAME_REST.match(text, position + 1)
    elif position and text[position - 1] in "eE" and _starts_token(text, position - 1):
        rest = _ESCAPE_STRING_REST.match(text, position + 1)  # E'...\'...'
    else:
        rest = _STRING_REST.match(text, position + 1)
    return len(text) if rest is None else rest.end()


def semicolons(text: str) -> Iterator[int]:
    """The offset of every semicolon outside strings, names, dollar quotes and comments."""
    position = 0
    search = _NEXT.search
    while (found := search(text, position)) is not None:
        position = found.start()
        if text[position] == ";":
            yield position
            position += 1
        else:
            position = _after(text, position)


def _open_comment(text: str, begin: int) -> int | None:
    """The offset of a ``/*`` after ``begin`` that is never closed, in a text that holds
    only white space and comments from ``begin`` on; ``None`` when there is none."""
    position = begin
    while True:
        found = _COMMENT_START.search(text, position)
        if found is None:
            return None
        position = _after(text, found.start())
        if found.group() == "/*" and not text.endswith("*/", 0, position):
            return found.start()


def pieces(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each run of text between two semicolons that holds anything
    but white space and comments: ``start`` is its first token, ``end`` (exclusive) its
    last character before the semicolon (or the end of the text), white space left out.
    A ``/*`` comment never closed is a piece of its own (PostgreSQL refuses it)."""
    begin = 0
    for stop in itertools.chain(semicolons(text), (len(text),)):
        start = skip_comments(text, begin, stop)
        if start == stop == len(text):
            opened = _open_comment(text, begin)
            start = stop if opened is None else opened
        if start < stop:
            end = stop
            while end > start and text[end - 1].isspace():
                end -= 1
            yield start, end
        begin = stop + 1
