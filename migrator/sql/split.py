"""Split SQL text into statements with exact positions, using PostgreSQL's own grammar.

A text of ordinary size is parsed whole, once (pglast's libpg_query): every
statement's bounds and tree come from that parse. A small lexer
(:mod:`migrator.sql.lexer`) finds the semicolons outside strings, quoted names, dollar
quotes and comments, for a text that does not parse (each statement is then judged
alone, and the first syntax error is reported with its line and column; the caller
decides whether that is fatal, the runner, or a finding, the linter) and for a large
text (:func:`streamed`: each statement parsed alone, its tree dropped, so memory
follows the largest statement rather than the whole file's tree). The same split reads
a text in chunks (:class:`StatementStream`), yielding each statement as soon as it is
read: a large file is never held (:mod:`migrator.sql.statement_source`).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from migrator.sql.libpg import pg_parser
from migrator.sql.parse import (
    Node,
    ParsedStatement,
    StatementTree,
    parse_one,
    parse_statements,
    skip_comments,
    view_header,
)
from migrator.sql.syntax import SyntaxNode, parse_node

if TYPE_CHECKING:  # loaded when a text needs it (one that does not parse, or a large one)
    from migrator.sql import lexer

#: scanner token names of comments
COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})


# small records are named tuples: cheaper to create at import than frozen dataclasses
class Position(NamedTuple):
    """A 1-based line and column in a file."""

    line: int
    column: int


class LineIndex:
    """Maps character offsets of a text to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        self._starts.extend(itertools.accumulate(len(line) + 1 for line in text.split("\n")[:-1]))

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
    """One SQL statement of a file (text without its terminating semicolon): the one
    statement model that lint, plan and the replay share.

    It carries its text, where it stands, and its parse tree from the one parse of the
    file (:attr:`tree`, JSON decoded on demand). :meth:`kind_and_fields` gives the
    JSON tree (parsing the text on its own, once, for a statement of a file that does
    not parse as a whole); :attr:`parsed` keeps the whole decoded tree for code that
    reads it several times (the planner); :attr:`node` is pglast's Python AST, parsed
    once when first asked for (code that rewrites the statement).
    """

    index: int
    text: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int
    #: the parse tree, when the whole text parsed (decoded on demand); ``None`` for the
    #: statements of a text with syntax errors (parse ``text`` on its own then)
    tree: StatementTree | None = field(default=None, compare=False, repr=False)

    def excerpt(self, width: int = 80) -> str:
        """The statement on one line, shortened to ``width`` characters."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 1] + "…"

    @property
    def kind(self) -> str | None:
        """The statement's node type (``"CreateStmt"``), without decoding its tree;
        ``None`` when pglast cannot give its tree."""
        if self.tree is not None:
            return self.tree.kind
        return None if self._alone is None else self._alone[0]

    def kind_and_fields(self, *, view_query: bool = True) -> tuple[str, Node] | None:
        """The statement's ``(kind, fields)``; ``None`` when pglast cannot give its tree
        (nested too deeply, or not a statement). With ``view_query=False`` a ``CREATE
        VIEW``'s query is left out (decoding it is most of the cost of a view)."""
        if self.tree is not None:
            return self.tree.kind, self.tree.fields(view_query=view_query)
        alone = self._alone
        if alone is not None and not view_query and alone[0] == "ViewStmt":
            return alone[0], view_header(alone[1])
        return alone

    @cached_property
    def _alone(self) -> tuple[str, Node] | None:
        """The tree of a statement without one from the file's parse: parsed alone."""
        return parse_one(self.text)

    @cached_property
    def parsed(self) -> ParsedStatement | None:
        """The whole tree, decoded once and kept (the planner reads it several times;
        the linter, which reads each tree once, calls :meth:`kind_and_fields`)."""
        tree = self.kind_and_fields()
        return None if tree is None else ParsedStatement(tree[0], tree[1], self.start, self.end)

    @cached_property
    def node(self) -> SyntaxNode:
        """pglast's Python AST of the statement (:mod:`migrator.sql.syntax`), parsed
        once, when first asked for."""
        return parse_node(self.text)

    def rewritten(self, text: str, node: SyntaxNode | None = None) -> Statement:
        """The statement written differently (one subcommand of an ``ALTER TABLE``), at
        the same place; ``node`` is its AST when the caller built it (no parse then)."""
        other = replace(self, text=text, tree=None)
        if node is not None:
            other.__dict__["node"] = node  # what cached_property would keep
        return other


class SyntaxProblem(NamedTuple):
    """Where and why the text does not parse."""

    message: str
    line: int
    column: int
    statement_index: int | None = None


class SplitResult(NamedTuple):
    #: a tuple, or for a large file a :class:`~migrator.sql.statement_source.StatementSource`
    statements: Sequence[Statement]
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


def _error_offset(exc: pg_parser.ParseError, text: str) -> int:
    offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
    if offset is None:  # libpg_query gives no position for "... at end of input"
        at_end = "at end of input" in str(exc.args[0] if exc.args else "")
        offset = len(text.rstrip()) if at_end else 0
    return max(0, min(offset, len(text)))


def _parse_error(text: str) -> tuple[str, int] | None:
    """``None`` when ``text`` is exactly one statement, else (message, offset).

    Only the C parser runs (no Python tree is built): a statement nested too deeply
    for PostgreSQL's parser is then an error like any other, where building pglast's
    tree objects for one just under the limit could overflow the C stack."""
    try:
        slices = pg_parser.split(text, with_parser=True, only_slices=True)
    except pg_parser.ParseError as exc:
        return str(exc.args[0]), _error_offset(exc, text)
    if len(slices) != 1:
        return "more than one statement", 0
    return None


def _one_statement(text: str) -> tuple[bool, StatementTree | None]:
    """Whether ``text`` is exactly one statement, and its tree (only its kind is kept;
    ``None`` for one too deeply nested for pglast to give its tree, which PostgreSQL's
    parser still accepts)."""
    tree = StatementTree.of_statement(text)
    return tree is not None or _parse_error(text) is None, tree


#: a text up to this size (characters) is parsed whole, once: every statement's tree
#: comes from that one parse (fewest parser calls); a larger one is split and parsed
#: statement by statement (:func:`streamed`), so memory follows the largest statement.
#: Measured on lint's 3.6 MB benchmark file (16,001 statements): parsed whole, 1.49 s
#: CPU and 153 MB peak; streamed, 1.71 s and 112 MB. 4 MiB keeps a whole parse's peak
#: under ~200 MB and spares files of that size the streamed path's 15% more CPU.
WHOLE_PARSE_LIMIT = 4 << 20


def split_statements(text: str) -> SplitResult:
    """Split ``text`` into statements with their positions (and trees). Never raises.

    A text up to :data:`WHOLE_PARSE_LIMIT` is parsed whole, once, and each statement's
    tree comes from that parse; when it does not parse, its statements are split by
    the lexer and have no tree (each is parsed alone when asked for). A larger text
    goes :func:`streamed`."""
    if len(text) > WHOLE_PARSE_LIMIT:
        return streamed(text)
    parsed = parse_statements(text)
    if parsed is None:
        return _split(text, keep_trees=False)
    statements = []
    line, counted = 1, 0  # the line of offset ``counted``: positions advance in order
    for number, (start, end, tree) in enumerate(parsed):
        line += text.count("\n", counted, start)
        finish = max(start, end - 1)
        end_line = line + text.count("\n", start, finish)
        counted = finish
        statements.append(_statement(text, number, start, end, line, end_line, tree))
        line = end_line
    return SplitResult(tuple(statements), (), ())


def streamed(text: str) -> SplitResult:
    """Split ``text`` statement by statement: the lexer (:mod:`migrator.sql.lexer`)
    finds the pieces between semicolons, keeping only offsets, and each piece is parsed
    on its own; its tree keeps only the statement's kind (the fields are parsed again
    when asked for), so no step holds the whole file's tokens or trees. A statement
    that does not parse is reported and has no tree; the others keep theirs."""
    return _split(text, keep_trees=True)


def _statement(
    text: str,
    number: int,
    start: int,
    end: int,
    line: int,
    end_line: int,
    tree: StatementTree | None,
) -> Statement:
    finish = max(start, end - 1)
    return Statement(
        index=number,
        text=text[start:end],
        start=start,
        end=end,
        line=line,
        column=start - text.rfind("\n", 0, start),
        end_line=end_line,
        end_column=finish - text.rfind("\n", 0, finish) + 1,
        tree=tree,
    )


def _split(text: str, *, keep_trees: bool) -> SplitResult:
    """The statements of a whole text, split by the lexer (:class:`StatementStream`)."""
    stream = StatementStream((text,), keep_trees=keep_trees)
    statements = tuple(stream)
    return SplitResult(statements, tuple(stream.syntax_errors), tuple(stream.meta_commands))


@dataclass(frozen=True)
class KnownSplit:
    """What a first walk of a text learnt, so that a later walk needs no parser: each
    statement's kind (``None``: no tree) and where pieces were joined."""

    #: per statement, an index into ``kind_names``
    kinds: Sequence[int]
    kind_names: Sequence[str | None]
    #: statement number -> how many pieces make it (only where more than one)
    joins: dict[int, int]


class StatementStream:
    """The statements of a text read in chunks (``chunks``), one at a time, as the
    lexer (:func:`migrator.sql.lexer.stream_pieces`) finds them: no step holds more
    than one statement (and up to :data:`_MAX_MERGE` pieces after a broken one).

    A piece that does not parse is joined with the ones after it until the whole
    parses (``BEGIN ATOMIC ... END`` bodies and ``CREATE RULE ... DO (...; ...)`` hold
    semicolons); when none does, it is reported in :attr:`syntax_errors` (and its psql
    meta-commands in :attr:`meta_commands`), and the others are kept; :attr:`joins`
    records where pieces were joined. ``keep_trees``: each valid statement keeps its
    (kind-only) tree; otherwise only PostgreSQL's parser judges each piece and no tree
    is built. With ``known`` (what an earlier walk of the same text learnt) nothing is
    parsed and no problem is reported again. The ``--`` comments ``comments`` matches
    are collected in :attr:`comments`. Problems, joins and comments are complete once
    the statements have all been read."""

    def __init__(
        self,
        chunks: Iterable[str],
        *,
        keep_trees: bool = True,
        known: KnownSplit | None = None,
        comments: re.Pattern[str] | None = None,
    ) -> None:
        self._chunks = chunks
        self._keep_trees = keep_trees
        self._known = known
        self._comment_pattern = comments
        self.syntax_errors: list[SyntaxProblem] = []
        self.meta_commands: list[tuple[int, str]] = []
        self.joins: dict[int, int] = {}
        self.comments: list[lexer.LineComment] = []
        #: the last meta-command's line goes on after its statement (psql reads a
        #: meta-command to the end of its line, past any semicolon)
        self._meta_open = False

    def _judge(self, piece: str) -> tuple[bool, StatementTree | None]:
        if self._keep_trees:
            return _one_statement(piece)
        return _parse_error(piece) is None, None

    def __iter__(self) -> Iterator[Statement]:
        from migrator.sql import lexer

        tail: list[str] = []
        found = lexer.stream_pieces(self._chunks, self._comment_pattern, self.comments, tail)
        if self._known is not None:
            yield from self._replay(found, self._known)
            return
        ahead: collections.deque[lexer.Piece] = collections.deque()
        number = 0
        while (piece := ahead.popleft() if ahead else next(found, None)) is not None:
            text = piece.text
            valid, tree = self._judge(text)
            if not valid:  # join the pieces after it, up to _MAX_MERGE of them
                ahead.extend(itertools.islice(found, _MAX_MERGE - len(ahead)))
                joined_text = text
                for joined, following in enumerate(ahead, 1):
                    joined_text += following.lead + following.text
                    valid, tree = self._judge(joined_text)
                    if valid:
                        piece = _joined(piece, following, joined_text)
                        text = joined_text
                        for _ in range(joined):
                            ahead.popleft()
                        self.joins[number] = joined + 1
                        break
            if self._meta_open:  # the last meta-command's line goes on in this statement
                self._continue_meta(piece.lead + text)
            if not valid:
                self._report(piece, number)
            yield _of_piece(number, piece, tree)
            number += 1
        if self._meta_open:
            self._continue_meta("".join(tail))
            self._meta_open = False

    @staticmethod
    def _replay(found: Iterator[lexer.Piece], known: KnownSplit) -> Iterator[Statement]:
        for number, code in enumerate(known.kinds):
            piece = next(found)
            for _ in range(known.joins.get(number, 1) - 1):
                following = next(found)
                piece = _joined(piece, following, piece.text + following.lead + following.text)
            kind = known.kind_names[code]
            tree = None if kind is None else StatementTree(kind, source=piece.text)
            yield _of_piece(number, piece, tree)

    def _report(self, piece: lexer.Piece, number: int) -> None:
        message, offset = _parse_error(piece.text) or ("does not parse", 0)
        before = piece.text[:offset]
        newlines = before.count("\n")
        column = offset - before.rfind("\n") if newlines else piece.column + offset
        self.syntax_errors.append(SyntaxProblem(message, piece.line + newlines, column, number))
        # a meta-command is a backslash that starts a line inside a statement that does
        # not parse; the piece's lead tells whether its first token starts a line
        around = piece.lead + piece.text
        first_line = piece.line - piece.lead.count("\n")
        found = find_meta_commands(around, [(len(piece.lead), len(around))])
        self.meta_commands.extend((first_line + line - 1, command) for line, command in found)
        if found:  # one on the piece's last line goes on after it, up to the newline
            self._meta_open = found[-1][0] == around.count("\n") + 1

    def _continue_meta(self, following: str) -> None:
        """Add ``following`` (the text after the last meta-command's statement) to that
        meta-command, up to the end of its line."""
        line_end = following.find("\n")
        line, command = self.meta_commands[-1]
        command += following if line_end == -1 else following[:line_end]
        self.meta_commands[-1] = (line, command.rstrip())
        self._meta_open = line_end == -1


def _of_piece(number: int, piece: lexer.Piece, tree: StatementTree | None) -> Statement:
    return Statement(
        index=number,
        text=piece.text,
        start=piece.start,
        end=piece.end,
        line=piece.line,
        column=piece.column,
        end_line=piece.end_line,
        end_column=piece.end_column,
        tree=tree,
    )


def _joined(first: lexer.Piece, last: lexer.Piece, text: str) -> lexer.Piece:
    """``first`` to ``last`` as one piece."""
    return dataclasses.replace(
        first, end=last.end, text=text, end_line=last.end_line, end_column=last.end_column
    )


_META_LINE = re.compile(r"^[ \t]*\\([A-Za-z!?]\S*)?", re.MULTILINE)


def find_meta_commands(text: str, bounds: Sequence[tuple[int, int]]) -> tuple[tuple[int, str], ...]:
    """psql meta-commands: a backslash that starts a line, outside any string or comment.

    ``bounds`` are the statements' ``(start, end)``. Only a text that does not parse can
    hold one (a backslash is no SQL token), and only inside a statement's bounds (what
    lies between statements is comments and semicolons), so each candidate is checked by
    scanning its statement alone: linear in the text.
    """
    candidates = list(_META_LINE.finditer(text))
    if not candidates:
        return ()
    index = LineIndex(text)
    tokens = StatementTokens(text, bounds)
    found = []
    for match in candidates:
        offset = match.start() + match.group(0).index("\\")
        if tokens.token_at(offset) not in ("ASCII_92", None):
            continue
        line_end = text.find("\n", offset)
        line_text = text[offset : line_end if line_end != -1 else len(text)].strip()
        found.append((index.position(offset).line, line_text))
    return tuple(found)


class StatementTokens:
    """The scanner's token names at given offsets of a text, scanning only the
    statement that holds each offset (``pglast.parser.scan`` of a whole large non-ASCII
    text takes time quadratic in its length)."""

    def __init__(self, text: str, bounds: Sequence[tuple[int, int]]) -> None:
        self._text = text
        self._bounds = bounds
        self._starts = [start for start, _ in bounds]
        self._gaps: dict[int, set[int]] = {}
        self._scanned: dict[int, dict[int, str] | None] = {}

    def token_at(self, offset: int) -> str | None:
        """The name of the token that starts at ``offset`` (``""`` when none does;
        ``SQL_COMMENT`` for a ``--`` comment); ``None`` when the statement there cannot
        be scanned (an unterminated string or comment)."""
        number = bisect.bisect_right(self._starts, offset) - 1
        if number >= 0 and offset < self._bounds[number][1]:
            tokens = self._statement_tokens(number)
            return None if tokens is None else tokens.get(offset, "")
        gap_start = self._bounds[number][1] if number >= 0 else 0
        if gap_start not in self._gaps:
            comments: list[int] = []
            following = number + 1
            gap_end = self._bounds[following][0] if following < len(self._bounds) else None
            skip_comments(
                self._text,
                gap_start,
                len(self._text) if gap_end is None else gap_end,
                semicolons=True,
                line_comments=comments,
            )
            self._gaps[gap_start] = set(comments)
        return "SQL_COMMENT" if offset in self._gaps[gap_start] else ""

    def _statement_tokens(self, number: int) -> dict[int, str] | None:
        if number not in self._scanned:
            start, end = self._bounds[number]
            try:
                tokens = pg_parser.scan(self._text[start:end])
            except pg_parser.ParseError:
                self._scanned[number] = None
            else:
                self._scanned[number] = {start + token.start: token.name for token in tokens}
        return self._scanned[number]
