"""identifier-too-long's fast pre-check agrees with the exact regular expression."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from migrator.lint.rules.robustness import _LONG_WORD, _has_long_word

_PIECES = st.sampled_from(["a", "Z", "_", "$", '"', "7", "é", "名", "😀", " ", ";", "-", "\n"])


@given(st.lists(st.tuples(_PIECES, st.integers(1, 70)), max_size=6))
def test_pre_check_matches_the_regex(runs: list[tuple[str, int]]) -> None:
    text = "".join(piece * count for piece, count in runs)
    assert _has_long_word(text) == (_LONG_WORD.search(text) is not None)


def test_long_non_ascii_and_quoted_names() -> None:
    assert _has_long_word("CREATE TABLE " + "é" * 64 + " (id int)")
    assert not _has_long_word("CREATE TABLE " + "é" * 40 + " (id int)")
    assert _has_long_word('ALTER TABLE t RENAME TO "' + "x" * 70 + '"')
    assert not _has_long_word("SELECT " + "x" * 63)
