"""Durations as users write them: ``500ms``, ``5s``, ``2min``, ``1h``, or bare seconds."""

from __future__ import annotations

import re
from decimal import Decimal

from migrator.errors import UsageError

_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "min": 60_000,
    "m": 60_000,
    "h": 3_600_000,
}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
#: the longest duration taken at all (about 285,000 years: exact as a float of ms, so
#: every deadline computed from it is a number)
MAX_DURATION_MS = 2**53


def parse_duration_ms(text: str, *, what: str = "duration") -> int:
    """Parse ``text`` into whole milliseconds; a bare number means seconds.

    ``0`` means "no limit", as in PostgreSQL.
    """
    match = _DURATION.match(str(text))
    if not match:
        raise UsageError(
            f"invalid {what} {text!r}",
            hint="write a number with a unit: 500ms, 5s, 2min, 1h",
        )
    number, unit = match.groups()
    unit = unit.lower() or "s"
    if unit not in _UNITS_MS:
        raise UsageError(
            f"invalid {what} {text!r}: unknown unit {unit!r}",
            hint="use one of ms, s, min, h",
        )
    exact = Decimal(number) * _UNITS_MS[unit]
    if exact > MAX_DURATION_MS:
        raise UsageError(
            f"invalid {what} {text!r}: longer than any duration migrate takes",
            hint="give a shorter duration, or 0 for no limit",
        )
    ms = round(exact)
    if ms == 0 and exact > 0:  # 0 would mean "no limit": the opposite
        raise UsageError(
            f"invalid {what} {text!r}: under 1 ms, it would round to 0, which means no limit",
            hint="give at least 1ms, or 0 for no limit",
        )
    return ms


#: the longest lock_timeout / statement_timeout PostgreSQL takes (an int of ms)
MAX_TIMEOUT_MS = 2_147_483_647


def parse_timeout_ms(text: str, *, what: str = "timeout") -> int:
    """:func:`parse_duration_ms` for a value that becomes a PostgreSQL timeout setting:
    refused here, not by the server in the middle of a run, when beyond its range."""
    ms = parse_duration_ms(text, what=what)
    if ms > MAX_TIMEOUT_MS:
        raise UsageError(
            f"invalid {what} {text!r}: PostgreSQL's timeouts stop at {MAX_TIMEOUT_MS} ms "
            "(about 24 days)",
            hint="give a shorter duration, or 0 for no limit",
        )
    return ms


def format_ms(ms: int) -> str:
    """Render milliseconds the way PostgreSQL settings accept them (``'5s'``, ``'250ms'``)."""
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def humanize_ms(ms: int) -> str:
    """A duration for people to read: ``850 ms``, ``21.0 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
