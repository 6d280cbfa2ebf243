"""identifier-too-long's fast pre-check agrees with a plain byte count of every word
(PostgreSQL's limit is 63 bytes, not characters)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from migrator.lint.rules.robustness import _has_long_word

_WORD = re.compile(r'[\w$"]+')


def _longest_word_bytes(text: str) -> int:
    return max((len(w.encode("utf-8")) for w in _WORD.findall(text)), default=0)


_PIECES = st.sampled_from(["a", "Z", "_", "$", '"', "7", "é", "名", "😀", " ", ";", "-", "\n"])


@given(st.lists(st.tuples(_PIECES, st.integers(1, 70)), max_size=6))
def test_pre_check_matches_the_regex(runs: list[tuple[str, int]]) -> None:
    text = "".join(piece * count for piece, count in runs)
    assert _has_long_word(text) == (_longest_word_bytes(text) > 63)


def test_long_non_ascii_and_quoted_names() -> None:
    assert _has_long_word("CREATE TABLE " + "é" * 64 + " (id int)")
    assert _has_long_word("CREATE TABLE " + "é" * 32 + " (id int)")  # 64 bytes
    assert not _has_long_word("CREATE TABLE " + "é" * 31 + "x (id int)")  # 63 bytes
    assert _has_long_word('ALTER TABLE t RENAME TO "' + "x" * 70 + '"')
    assert not _has_long_word("SELECT " + "x" * 63)
