"""Durations as people read them (``migrate status``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from migrator.durations import MAX_DURATION_MS, humanize_ms, parse_duration_ms, parse_timeout_ms
from migrator.errors import UsageError


def test_humanized_durations() -> None:
    assert humanize_ms(0) == "0 ms"
    assert humanize_ms(999) == "999 ms"
    assert humanize_ms(21016) == "21.0 s"
    assert humanize_ms(185_000) == "3 min 5 s"
    assert humanize_ms(7_440_000) == "2 h 4 min"


@given(st.integers(min_value=0, max_value=10**9))
def test_a_humanized_duration_reads_back_close_to_its_value(ms: int) -> None:
    """Summing the parts with the parser gets back within the shown precision."""
    parts = humanize_ms(ms).split()
    total = sum(
        parse_duration_ms(number + unit)
        for number, unit in zip(parts[::2], parts[1::2], strict=True)
    )
    precision = 1 if ms < 1000 else 50 if ms < 60_000 else 500 if ms < 3_600_000 else 60_000
    assert abs(total - ms) <= precision


@given(
    number=st.decimals(min_value=0, max_value=10, places=4, allow_nan=False),
    unit=st.sampled_from(["ms", "s", "min", "h", ""]),
)
def test_a_positive_duration_never_becomes_no_limit(number: object, unit: str) -> None:
    """0 means "no limit": a positive duration too small to count (``0.4ms``) is
    refused, never rounded to it."""
    text = f"{number}{unit}"
    try:
        ms = parse_timeout_ms(text)
    except UsageError as exc:
        assert "round to 0" in exc.message and float(str(number)) > 0
    else:
        assert (ms == 0) == (float(str(number)) == 0), (text, ms)


@given(
    digits=st.text(alphabet="0123456789", min_size=1, max_size=500),
    unit=st.sampled_from(["ms", "s", "min", "h", ""]),
)
def test_any_length_of_digits_is_a_duration_or_a_clear_refusal(digits: str, unit: str) -> None:
    """P1: 400 digits were infinity as a float, and every flag, variable and directive
    that takes a duration crashed (exit 70) instead of refusing it."""
    try:
        ms = parse_duration_ms(digits + unit)
    except UsageError as exc:
        assert "longer than any duration" in exc.message or "round to 0" in exc.message
    else:
        assert 0 <= ms <= MAX_DURATION_MS
        assert float(ms) == ms  # every deadline computed from it is a finite number
