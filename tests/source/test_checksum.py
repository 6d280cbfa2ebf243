"""The ledger's checksum of a large file, computed chunk by chunk as it streams, is the
checksum of its whole text, wherever a ``\\r\\n`` falls between two chunks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from migrator.source.checksum import StreamedChecksum, content_checksum

TEXT = st.text(alphabet=st.sampled_from(["a", "\r", "\n", "é", ";", " "]), max_size=60)


@given(text=TEXT, cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_a_streamed_checksum_is_the_checksum_of_the_whole_text(text: str, cuts: list[int]) -> None:
    streamed = StreamedChecksum()
    start = 0
    for cut in [*sorted({min(cut, len(text)) for cut in cuts}), len(text)]:
        streamed.update(text[start:cut])
        start = cut
    assert streamed.hexdigest() == content_checksum(text)


def test_only_crlf_is_a_newline_a_lone_cr_stays() -> None:
    assert content_checksum("a\r\nb") == content_checksum("a\nb")
    assert content_checksum("a\rb") != content_checksum("a\nb")
