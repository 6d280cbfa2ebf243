"""The streamed split (:class:`~migrator.sql.split.StatementStream`, what a large file
gets) against the whole-text split (:func:`~migrator.sql.split.split_statements`): the
same statements, places, trees, syntax errors and psql meta-commands wherever the text
is cut into chunks (inside strings, dollar quotes, comments, names, ``BEGIN ATOMIC``
bodies, between the two characters of ``--`` or ``$$``)."""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from migrator.sql import lexer
from migrator.sql.split import (
    SplitResult,
    StatementStream,
    find_meta_commands,
    split_statements,
    streamed,
)
from tests.sql.test_lexer import _script


def _cut(text: str, cuts: list[int]) -> list[str]:
    edges = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(edges)]


def _compared(result: SplitResult) -> tuple[object, ...]:
    return (
        [
            (s.index, s.text, s.start, s.end, s.line, s.column, s.end_line, s.end_column)
            for s in result.statements
        ],
        [s.tree.kind if s.tree else None for s in result.statements],
        result.syntax_errors,
        result.meta_commands,
    )


def _streamed(chunks: list[str]) -> SplitResult:
    stream = StatementStream(chunks)
    statements = tuple(stream)
    return SplitResult(statements, tuple(stream.syntax_errors), tuple(stream.meta_commands))


#: statements that do not parse, psql meta-commands, an unterminated comment or string
_BROKEN = st.sampled_from(
    [
        "selec 1",
        "\\set x 1\n",
        "select (1",
        "\n  \\i other.sql\nselect 2",
        "/* open",
        "select 'open",
    ]
)


@st.composite
def _text(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_script(), _BROKEN.map(lambda b: b + ";\n")), max_size=4))
    return "".join(parts) + draw(st.sampled_from(["", "\n", "-- end\n", "/* end */", "select 9"]))


@settings(max_examples=150, deadline=None)
@given(_text(), st.lists(st.integers(0, 400), max_size=12))
# a meta-command's line runs past its statement's end (the ``;`` after it is the line's)
@example("select 'open;\n SELECT 0 AS c__, E'\n\\'' AS c__ ; ", [])
def test_the_streamed_split_equals_the_whole_split_wherever_the_chunks_are_cut(
    text: str, cuts: list[int]
) -> None:
    expected = _compared(streamed(text))
    assert _compared(_streamed(_cut(text, cuts))) == expected
    assert _compared(_streamed(list(text))) == expected  # one character at a time
    whole = _compared(split_statements(text))  # parsed whole: trees only when it parses
    assert (expected[0], *expected[2:]) == (whole[0], *whole[2:])
    # meta-commands: what the scan of the whole text finds inside the statements
    result = streamed(text)
    bounds = [(s.start, s.end) for s in result.statements]
    assert result.meta_commands == (
        find_meta_commands(text, bounds) if result.syntax_errors else ()
    )


@settings(max_examples=100, deadline=None)
@given(st.text("ab ;'\"$-/*\\\nE1(", max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_streamed_pieces_equal_the_pieces_of_the_whole_text(text: str, cuts: list[int]) -> None:
    whole = list(lexer.stream_pieces((text,)))
    assert list(lexer.stream_pieces(_cut(text, cuts))) == whole
    assert [(p.start, p.end) for p in whole] == list(lexer.pieces(text))
    for piece in whole:
        assert piece.text == text[piece.start : piece.end]
        assert text[: piece.start].endswith(piece.lead)


def test_a_statement_larger_than_a_chunk_is_read_whole() -> None:
    body = "x" * (3 * lexer.CHUNK)
    text = f"select 1;\nselect '{body};';\n-- migrate:x\nselect $a$;$a$"
    chunks = _cut(text, list(range(0, len(text), 1000)))
    result = _streamed(chunks)
    assert [s.text for s in result.statements] == [
        "select 1",
        f"select '{body};'",
        "select $a$;$a$",
    ]
    assert [s.line for s in result.statements] == [1, 2, 4]
    assert _compared(result) == _compared(split_statements(text)) == _compared(streamed(text))
