"""A :class:`~migrator.sql.statement_source.StatementSource` (a large file's statements,
walked from their source whenever asked for) behaves as the tuple of the same text's
statements in every way the runner and the linter use one, and holds no statement."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.source.segments import cut_segments
from migrator.sql import lexer
from migrator.sql.split import streamed
from migrator.sql.statement_source import StatementSource, chained, of_kinds, statement_range
from tests.sql.test_stream import _cut, _text

_CONTROLS = st.sampled_from(
    [
        "BEGIN;\n",
        "BEGIN ISOLATION LEVEL SERIALIZABLE;\n",
        "COMMIT;\n",
        "COMMIT AND CHAIN;\n",
        "ROLLBACK;\n",
        "",
    ]
)


def _source(text: str, cuts: list[int]) -> StatementSource:
    return StatementSource(lambda: iter(_cut(text, cuts)))


def _fields(statements: object) -> list[tuple[object, ...]]:
    return [
        (s.index, s.text, s.start, s.end, s.line, s.column, s.end_line, s.end_column,
         s.tree.kind if s.tree else None)
        for s in statements  # type: ignore[attr-defined]
    ]  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(_text(), _CONTROLS), max_size=4).map(
        lambda parts: "".join(text + control for text, control in parts)
    ),
    st.lists(st.integers(0, 300), max_size=8),
    st.data(),
)
def test_a_source_behaves_as_the_tuple_of_its_statements(
    text: str, cuts: list[int], data: st.DataObject
) -> None:
    held = streamed(text)
    source = _source(text, cuts)
    assert len(source) == len(held.statements)
    assert (source.syntax_errors, source.meta_commands) == (held.syntax_errors, held.meta_commands)
    assert _fields(source) == _fields(held.statements)
    assert _fields(source) == _fields(held.statements)  # walked again
    if held.statements:
        size = len(held.statements)
        for _ in range(3):  # positions in any order, negative ones too
            index = data.draw(st.integers(-size, size - 1))
            assert _fields([source[index]]) == _fields([held.statements[index]])
            assert source.index(held.statements[index]) == held.statements.index(
                held.statements[index]
            )
        start = data.draw(st.integers(0, size))
        stop = data.draw(st.integers(start, size))
        skip = frozenset(data.draw(st.lists(st.integers(start, size), max_size=3)))
        part = statement_range(source, start, stop, skip)
        expected = statement_range(held.statements, start, stop, skip)
        assert len(part) == len(expected)
        assert _fields(part) == _fields(expected)
        assert _fields(part[1:]) == _fields(expected[1:])
        assert _fields(chained([part, source[start:stop]])) == _fields(
            chained([expected, held.statements[start:stop]])
        )
    kinds = {"TransactionStmt", "SelectStmt"}
    assert _fields(of_kinds(source, kinds)) == _fields(of_kinds(held.statements, kinds))
    segments = [(s.number, _fields(s.statements), s.commit and s.commit.keyword, s.end, s.start)
                for s in cut_segments(source)]  # fmt: skip
    assert segments == [
        (s.number, _fields(s.statements), s.commit and s.commit.keyword, s.end, s.start)
        for s in cut_segments(held.statements)
    ]


def _inserts(count: int) -> Iterator[str]:
    for number in range(count):
        yield f"INSERT INTO t VALUES ({number}, 'row {number}');\n"


def _peak_of_walking(count: int) -> int:
    """Peak traced memory of splitting and walking ``count`` statements (the text made
    as it is read, never held)."""
    tracemalloc.start()
    try:
        source = StatementSource(lambda: _inserts(count))
        assert sum(1 for _ in source) == count
        assert source[count // 2].text.startswith(f"INSERT INTO t VALUES ({count // 2},")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_walking_holds_no_statement_whatever_their_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lexer, "CHUNK", 4096)  # the lexer's buffer full at both sizes
    small, large = _peak_of_walking(1_000), _peak_of_walking(10_000)
    # ten times the statements: only their two-byte kinds more (with the array's spare
    # room and noise, under 10 bytes each; a held statement costs hundreds)
    assert large < small + 10 * 10_000, (small, large)
