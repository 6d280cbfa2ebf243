"""Split SQL text into statements with exact positions, using PostgreSQL's own grammar.

pglast (libpg_query) knows dollar quotes, ``E''`` strings, nested comments, quoted
identifiers and ``BEGIN ATOMIC ... END`` bodies, so a semicolon inside any of them never
splits a statement. When the text does not parse, the scanner splits it instead and the
first syntax error is reported with its line and column; the caller decides whether
that is fatal (the runner) or a finding (the linter).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from pglast import parser as pg_parser

from migrator.sql.parse import statement_bounds

#: scanner token names of comments
COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


class LineIndex:
    """Maps character offsets of a text to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        self._starts.extend(match.end() for match in re.finditer("\n", text))

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self._starts, offset) - 1
        return Position(line + 1, offset - self._starts[line] + 1)

    def line_start(self, line: int) -> int:
        """Offset of the first character of 1-based ``line``."""
        return self._starts[line - 1]

    @property
    def line_count(self) -> int:
        return len(self._starts)


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a file (text without its terminating semicolon)."""

    index: int
    text: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def excerpt(self, width: int = 80) -> str:
        """The statement on one line, shortened to ``width`` characters."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 1] + "…"


@dataclass(frozen=True)
class SyntaxProblem:
    """Where and why the text does not parse."""

    message: str
    line: int
    column: int
    statement_index: int | None = None


@dataclass(frozen=True)
class SplitResult:
    statements: tuple[Statement, ...]
    #: every statement that does not parse (empty when the whole text parses)
    syntax_errors: tuple[SyntaxProblem, ...]
    #: psql meta-commands (``\i``, ``\set``, ...) found outside strings: (line, text)
    meta_commands: tuple[tuple[int, str], ...]

    @property
    def syntax_error(self) -> SyntaxProblem | None:
        """The first syntax error, if any."""
        return self.syntax_errors[0] if self.syntax_errors else None


#: how many following pieces a broken piece may absorb to become one statement again
#: (``BEGIN ATOMIC ... END`` bodies and ``CREATE RULE ... DO (...; ...)`` hold semicolons)
_MAX_MERGE = 64


def _parse_error(text: str) -> tuple[str, int] | None:
    """``None`` when ``text`` is exactly one statement, else (message, offset)."""
    try:
        parsed = pg_parser.parse_sql(text)
    except pg_parser.ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        return str(exc.args[0]), max(0, min(offset, len(text)))
    if len(parsed) != 1:
        return "more than one statement", 0
    return None


def _scanner_pieces(text: str) -> list[tuple[int, int]]:
    """Statement candidates: token runs between semicolons (comments dropped)."""
    try:
        tokens = pg_parser.scan(text)
    except pg_parser.ParseError:
        stripped = text.strip()
        if not stripped:
            return []
        first = text.index(stripped[0])
        return [(first, first + len(stripped))]
    pieces: list[tuple[int, int]] = []
    start: int | None = None
    last_end = 0
    for token in tokens:
        if token.name in COMMENT_TOKENS:
            continue
        if token.name == "ASCII_59":
            if start is not None:
                pieces.append((start, last_end))
            start = None
            continue
        if start is None:
            start = token.start
        last_end = token.end + 1
    if start is not None:
        pieces.append((start, last_end))
    return pieces


def _tolerant_bounds(
    text: str, index: LineIndex
) -> tuple[list[tuple[int, int]], list[SyntaxProblem]]:
    """Split unparsable text statement by statement, keeping what does parse."""
    pieces = _scanner_pieces(text)
    bounds: list[tuple[int, int]] = []
    problems: list[SyntaxProblem] = []
    i = 0
    while i < len(pieces):
        start, end = pieces[i]
        error = _parse_error(text[start:end])
        if error is None:
            bounds.append((start, end))
            i += 1
            continue
        for j in range(i + 1, min(i + 1 + _MAX_MERGE, len(pieces))):
            if _parse_error(text[start : pieces[j][1]]) is None:
                bounds.append((start, pieces[j][1]))
                i = j + 1
                break
        else:
            message, offset = error
            pos = index.position(start + offset)
            problems.append(SyntaxProblem(message, pos.line, pos.column, len(bounds)))
            bounds.append((start, end))
            i += 1
    return bounds, problems


def _trim_leading_comments(text: str, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Start each statement at its first token, not at the comments before it."""
    starts = [token.start for token in pg_parser.scan(text) if token.name not in COMMENT_TOKENS]
    trimmed = []
    for start, end in bounds:
        at = bisect.bisect_left(starts, start)
        first = starts[at] if at < len(starts) and starts[at] < end else start
        trimmed.append((first, end))
    return trimmed


def split_statements(text: str) -> SplitResult:
    """Split ``text`` into statements with their positions.

    Never raises: when the text does not parse, it is split with the scanner and
    parsed statement by statement; each statement that fails is reported as a
    :class:`SyntaxProblem` and the others are kept.
    """
    index = LineIndex(text)
    problems: list[SyntaxProblem] = []
    try:
        bounds = statement_bounds(text)  # linear; pglast's only_slices is quadratic
    except pg_parser.ParseError:
        bounds, problems = _tolerant_bounds(text, index)
    statements = []
    for number, (start, end) in enumerate(bounds):
        begin = index.position(start)
        finish = index.position(max(start, end - 1))
        statements.append(
            Statement(
                index=number,
                text=text[start:end],
                start=start,
                end=end,
                line=begin.line,
                column=begin.column,
                end_line=finish.line,
                end_column=finish.column + 1,
            )
        )
    return SplitResult(tuple(statements), tuple(problems), find_meta_commands(text, index))


_META_LINE = re.compile(r"^[ \t]*\\([A-Za-z!?]\S*)?", re.MULTILINE)


def find_meta_commands(text: str, index: LineIndex | None = None) -> tuple[tuple[int, str], ...]:
    """psql meta-commands: a backslash that starts a line, outside any string or comment."""
    candidates = list(_META_LINE.finditer(text))
    if not candidates:
        return ()
    index = index or LineIndex(text)
    try:
        tokens = pg_parser.scan(text)
    except pg_parser.ParseError:
        tokens = None
    found = []
    for match in candidates:
        offset = match.start() + match.group(0).index("\\")
        if tokens is not None and not any(
            token.start == offset and token.name == "ASCII_92" for token in tokens
        ):
            continue
        line_end = text.find("\n", offset)
        line_text = text[offset : line_end if line_end != -1 else len(text)].strip()
        found.append((index.position(offset).line, line_text))
    return tuple(found)


def parse_one(text: str) -> object | None:
    """The pglast AST (``RawStmt``) of one statement, or ``None`` when it does not parse."""
    try:
        parsed = pg_parser.parse_sql(text)
    except pg_parser.ParseError:
        return None
    return parsed[0] if parsed else None
