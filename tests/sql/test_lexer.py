"""The statement-by-statement split (:mod:`migrator.sql.lexer` and
:func:`~migrator.sql.split.split_statements`) against pglast's split of the whole text
(:func:`~migrator.sql.parse.parse_statements`): the same bounds on every corpus file
that parses, and on generated SQL full of semicolons hidden in strings, escape
strings, quoted names, dollar quotes, nested comments and ``BEGIN ATOMIC`` bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.sql import lexer
from migrator.sql.parse import parse_statements
from migrator.sql.split import split_statements, streamed

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def _pglast_bounds(text: str) -> list[tuple[int, int]] | None:
    parsed = parse_statements(text)
    return None if parsed is None else [(start, end) for start, end, _ in parsed]


def _split_bounds(text: str) -> list[tuple[int, int]]:
    """The bounds of the statement-by-statement split (what a large file gets)."""
    return [(s.start, s.end) for s in streamed(text).statements]


def test_the_split_equals_pglasts_on_every_corpus_file_that_parses() -> None:
    files = sorted(CORPORA.rglob("*.sql"))
    if not files:
        pytest.skip("the corpora are not beside this checkout")
    compared = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        expected = _pglast_bounds(text)
        if expected is None:
            continue
        assert list(lexer.pieces(text)) == expected, path
        assert _split_bounds(text) == expected, path
        compared += 1
    assert compared > 1000  # the corpora hold about 1,700 files that parse


_WORD = st.text("abcxyz_", min_size=1, max_size=6).map(lambda w: "c_" + w)
_CHUNK = st.text("ab;'\"$-/*\\\n é", max_size=8)


def _quoted(chunk: str, quote: str) -> str:
    return quote + chunk.replace(quote, quote * 2) + quote


def _escape_string(chunk: str) -> str:
    return "E'" + chunk.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dollar(chunk: str, tag: str) -> str:
    body = chunk.replace("$", "")
    return f"${tag}${body}${tag}$"


_EXPRESSION = st.one_of(
    st.integers(0, 999).map(str),
    _CHUNK.map(lambda c: _quoted(c, "'")),
    _CHUNK.map(_escape_string),
    st.builds(_dollar, _CHUNK, st.sampled_from(["", "x", "tag_1"])),
    _CHUNK.map(lambda c: "U&" + _quoted(c.replace("\\", ""), "'")),
)


def _comment_text(chunk: str) -> str:
    """``chunk`` without ``*`` and ``/``: removing only ``/*`` and ``*/`` can make one
    (``//**`` becomes ``/*``), and the comment would not end where the generator meant."""
    return chunk.replace("*", "").replace("/", "")


_COMMENT = st.one_of(
    _CHUNK.map(lambda c: "-- " + c.replace("\n", " ") + "\n"),
    _CHUNK.map(lambda c: "/* " + _comment_text(c) + " */"),
    _CHUNK.map(lambda c: "/* /* " + _comment_text(c) + " */ x */"),
)
_SPACE = st.one_of(st.sampled_from([" ", "\n", "\t", "  \n "]), _COMMENT.map(lambda c: f" {c} "))


@st.composite
def _statement(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["select", "select", "atomic", "table"]))
    if kind == "atomic":  # a body whose semicolons PostgreSQL's grammar holds
        body = "; ".join(f"SELECT {draw(_EXPRESSION)}" for _ in range(draw(st.integers(1, 3))))
        return f"CREATE FUNCTION {draw(_WORD)}() RETURNS int LANGUAGE sql\nBEGIN ATOMIC {body}; END"
    if kind == "table":
        name = _quoted(draw(_CHUNK).replace("\x00", "") or "t", '"')
        return f"CREATE TABLE {name} (id int{draw(_SPACE)})"
    items = draw(st.lists(st.tuples(_EXPRESSION, _SPACE, _WORD), min_size=1, max_size=4))
    columns = ", ".join(f"{expression}{space}AS {alias}" for expression, space, alias in items)
    return f"SELECT {columns}"


@st.composite
def _script(draw: st.DrawFn) -> str:
    statements = draw(st.lists(_statement(), min_size=1, max_size=5))
    parts = [draw(_SPACE)]
    for statement in statements:
        parts += [statement, draw(_SPACE), ";" * draw(st.integers(1, 2)), draw(_SPACE)]
    if draw(st.booleans()):  # no semicolon after the last statement
        parts[-2] = ""
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(_script())
def test_the_split_equals_pglasts_on_generated_sql(text: str) -> None:
    expected = _pglast_bounds(text)
    assert expected is not None, text  # the generator writes valid SQL only
    assert _split_bounds(text) == expected
    statements = streamed(text).statements
    assert all(s.tree is not None for s in statements)
    assert [s.tree.kind for s in statements if s.tree] == [
        tree.kind for _, _, tree in parse_statements(text) or ()
    ]


@settings(max_examples=300, deadline=None)
@given(st.text("ab ;'\"$-/*\\\nE1(", max_size=40))
def test_the_split_never_raises_and_agrees_wherever_pglast_parses(text: str) -> None:
    result = streamed(text)
    assert [(s.start, s.end) for s in split_statements(text).statements] == [
        (s.start, s.end) for s in result.statements
    ]
    expected = _pglast_bounds(text)
    if expected is not None:
        assert [(s.start, s.end) for s in result.statements] == expected
        assert result.syntax_errors == ()
    for statement in result.statements:
        assert statement.text == text[statement.start : statement.end]
