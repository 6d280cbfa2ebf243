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

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

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
_BLANK = re.compile(r"\s+")


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


def semicolons(
    text: str, position: int = 0, line_comment: Callable[[int], None] | None = None
) -> Iterator[int]:
    """The offset of every semicolon outside strings, names, dollar quotes and comments,
    from ``position`` on (where a token must be able to start: the text's start, or
    just after a semicolon). ``line_comment`` is called with the offset of each ``--``
    comment passed."""
    search = _NEXT.search
    while (found := search(text, position)) is not None:
        position = found.start()
        if text[position] == ";":
            yield position
            position += 1
        else:
            if line_comment is not None and text[position] == "-":
                line_comment(position)
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


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of text between two semicolons that holds a token (see :func:`pieces`),
    with its place in the whole text."""

    #: offsets in the whole text: its first token, and after its last character
    start: int
    end: int
    text: str
    #: 1-based line and column of ``start`` and of its last character
    line: int
    column: int
    end_line: int
    end_column: int
    #: the text between the previous piece's end (or the text's start) and ``start``:
    #: white space, semicolons and comments (joining pieces again needs it)
    lead: str


@dataclass(frozen=True, slots=True)
class LineComment:
    """A ``--`` comment (outside strings, names, dollar quotes and block comments) that
    matches the pattern the caller asked for."""

    offset: int
    line: int
    column: int
    #: what the pattern matched
    text: str


#: characters read at a time from a stream of text
CHUNK = 1 << 16


class _Lines:
    """The line and column of offsets of a streamed text, asked for in increasing order."""

    def __init__(self) -> None:
        self.counted = 0  # offsets before this one are counted
        self.line = 1  # the line of offset ``counted``
        self.newline = -1  # the offset of the last newline before ``counted``

    def advance(self, buffer: str, base: int, offset: int) -> tuple[int, int]:
        """(line, column) of ``offset``; ``buffer`` holds the text from ``base`` on."""
        if offset > self.counted:
            newline = buffer.rfind("\n", self.counted - base, offset - base)
            if newline >= 0:
                self.line += buffer.count("\n", self.counted - base, newline + 1)
                self.newline = base + newline
            self.counted = offset
        return self.line, offset - self.newline


def stream_pieces(
    chunks: Iterable[str],
    comments: re.Pattern[str] | None = None,
    found_comments: list[LineComment] | None = None,
    tail: list[str] | None = None,
) -> Iterator[Piece]:
    """The pieces (:func:`pieces`) of the text made of ``chunks``, each as soon as the
    semicolon that ends it is read: memory follows the largest piece, not the text. A
    piece that straddles chunks is scanned again from its start once more text is
    read, in reads that double while no semicolon comes, so a large piece costs linear
    time. Each ``--`` comment that ``comments`` matches is appended to
    ``found_comments``, in order, as the lexer passes it. Once the text is read, what
    follows the last piece (semicolons, white space, comments) is appended to
    ``tail``."""
    source = iter(chunks)
    buffer = ""  # the text from offset ``base`` on
    base = 0
    scan = 0  # where the lexer goes on in ``buffer`` (after the last semicolon)
    previous = 0  # the end of the last piece (or 0), in the whole text
    lines = _Lines()
    comment_lines = _Lines()  # comments inside a piece come before the piece is yielded
    done = False

    def line_comment(local: int) -> None:
        offset = base + local
        if comments is None or found_comments is None or offset < comment_lines.counted:
            return  # not asked for, or seen in an earlier scan of the same text
        if (match := comments.match(buffer, local)) is not None:
            line, column = comment_lines.advance(buffer, base, offset)
            comment_lines.counted = offset + 1  # a '-': no newline to count
            found_comments.append(LineComment(offset, line, column, match.group()))

    # one chunk is read ahead: the pieces of the last chunk come only once the source
    # said it has no more (a source that checks the text at its end has checked it)
    ahead = next(source, None)
    while not done:
        wanted = max(CHUNK, len(buffer) - scan)
        read: list[str] = []
        while ahead is not None and wanted > 0:
            read.append(ahead)
            wanted -= len(ahead)
            ahead = next(source, None)
        done = ahead is None
        buffer += "".join(read)
        stops = list(semicolons(buffer, scan, line_comment if comments is not None else None))
        if done:
            stops.append(len(buffer))
        for stop in stops:
            begin, scan = scan, stop + 1
            blank = _BLANK.match(buffer, begin, stop)  # most often all there is to skip
            start = blank.end() if blank else begin
            if buffer.startswith(("--", "/*"), start):
                start = skip_comments(buffer, start, stop)
            if start == stop == len(buffer) and done:
                opened = _open_comment(buffer, begin)
                start = stop if opened is None else opened
            if start >= stop:
                continue
            end = stop
            while end > start and buffer[end - 1].isspace():
                end -= 1
            line, column = lines.advance(buffer, base, base + start)
            finish = max(start, end - 1)
            end_line, end_column = lines.advance(buffer, base, base + finish)
            yield Piece(
                base + start,
                base + end,
                buffer[start:end],
                line,
                column,
                end_line,
                end_column + 1,
                buffer[previous - base : start],
            )
            previous = base + end
        cut = min(previous, lines.counted) - base
        if cut > 0:
            comment_lines.advance(buffer, base, base + cut)  # no comment comes before
            buffer, base, scan = buffer[cut:], base + cut, scan - cut
    if tail is not None:
        tail.append(buffer[previous - base :])


def pieces(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each run of text between two semicolons that holds anything
    but white space and comments: ``start`` is its first token, ``end`` (exclusive) its
    last character before the semicolon (or the end of the text), white space left out.
    A ``/*`` comment never closed is a piece of its own (PostgreSQL refuses it)."""
    for piece in stream_pieces((text,)):
        yield piece.start, piece.end
