"""Version texts and their ordering keys.

Every layout names its versions in its own way (``0042``, ``20260101120000``,
Flyway's ``1_2`` or ``17.1``, diesel's ``2019-09-12-100000``) and orders them by its own
rule. The ledger stores one non-negative integer per version (its ``numeric`` column
has no size limit), so each layout maps its version texts to an **ordering key**: an
integer whose numeric order is the layout's order, computed from the version text
alone (a key never changes when other files are added). The text as written is kept
beside it for messages; :func:`format_key` turns a key read back from the ledger into
a text again.

- plain digits (migrator, golang-migrate, sqlx, goose, dbmate): the number itself, so
  ledgers written before layouts existed read unchanged;
- Flyway: the dot- or underscore-separated parts, compared part by part as Flyway
  does (``1_2`` < ``1_10``, ``1.0`` equals ``1``);
- diesel: the digits of the folder's timestamp, compared as text (diesel sorts its
  version strings), so ``2020-12-7-190800`` lands after ``2020-12-31`` as in diesel.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from migrator.errors import UsageError

#: ASCII digits only: ``str.isdigit`` and ``\d`` accept Arabic-Indic and full-width digits
ASCII_DIGITS = re.compile(r"[0-9]+\Z")

#: Flyway: digits of the first part are unbounded; later parts get this many digits
FLYWAY_PART_DIGITS = 6
#: Flyway: at most this many parts (``1.2.3.4.5.6.7.8.9``, the longest in its docs)
FLYWAY_PARTS = 9
#: diesel: a version's digits are padded on the right to this width
DIESEL_WIDTH = 24


def shown_version(key: int, text: str) -> str:
    """A version in messages: the number for plain digits (``3``, as migrator always
    printed it), else as the layout writes it (``1_10``, ``2019-09-12-100000``) rather
    than its ledger key."""
    if not text or (ASCII_DIGITS.match(text) and int(text) == key):
        return str(key)
    return text


def digits_key(text: str) -> int:
    """``0042`` -> 42."""
    if not ASCII_DIGITS.match(text):
        raise UsageError(
            f"version {text!r} is not made of ASCII digits 0-9",
            hint="rename the file with a version such as 001 or 20260101120000",
        )
    return int(text)


def flyway_parts(text: str) -> tuple[int, ...]:
    """``1_2`` / ``1.2`` -> (1, 2); trailing zero parts dropped (Flyway: 1.0 = 1)."""
    pieces = re.split(r"[._]", text)
    if not pieces or not all(ASCII_DIGITS.match(piece) for piece in pieces):
        raise UsageError(
            f"Flyway version {text!r} is not dot- or underscore-separated ASCII digits",
            hint="write it like V1__x.sql, V1_2__x.sql or V1.2.3__x.sql",
        )
    parts = [int(piece) for piece in pieces]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def flyway_key(text: str) -> int:
    """The parts of a Flyway version as one integer in the same order."""
    parts = flyway_parts(text)
    limit = 10**FLYWAY_PART_DIGITS
    if len(parts) > FLYWAY_PARTS or any(part >= limit for part in parts[1:]):
        raise UsageError(
            f"Flyway version {text!r} is beyond what migrator orders: at most "
            f"{FLYWAY_PARTS} parts, each after the first below {limit}",
            hint="see 'Coming from another tool' in docs/runner.md",
        )
    key = parts[0]
    for index in range(1, FLYWAY_PARTS):
        key = key * limit + (parts[index] if index < len(parts) else 0)
    return key


def flyway_text(key: int) -> str:
    """The inverse of :func:`flyway_key`, dotted as Flyway prints versions."""
    limit = 10**FLYWAY_PART_DIGITS
    parts = []
    for _ in range(FLYWAY_PARTS - 1):
        key, part = divmod(key, limit)
        parts.append(part)
    parts.append(key)
    parts.reverse()
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return ".".join(str(part) for part in parts)


def diesel_digits(text: str) -> str:
    """``2019-09-12-100000`` -> ``20190912100000`` (diesel drops the dashes)."""
    digits = text.replace("-", "")
    if not ASCII_DIGITS.match(digits):
        raise UsageError(
            f"diesel version {text!r} is not ASCII digits and dashes",
            hint="name the folder like 2019-09-12-100000_create_users",
        )
    return digits


def diesel_key(text: str) -> int:
    """The timestamp digits padded on the right, so that numeric order is diesel's
    text order (``20201271908`` sorts after ``20201231...``)."""
    digits = diesel_digits(text)
    if len(digits) > DIESEL_WIDTH:
        raise UsageError(
            f"diesel version {text!r} has more than {DIESEL_WIDTH} digits",
            hint="see 'Coming from another tool' in docs/runner.md",
        )
    return int(digits.ljust(DIESEL_WIDTH, "0"))


def diesel_text(key: int) -> str:
    """The inverse of :func:`diesel_key` (trailing zeros beyond 14 digits dropped)."""
    digits = str(key).zfill(DIESEL_WIDTH).rstrip("0")
    return digits.ljust(14, "0")


#: Flyway's repeatable migrations (``R__<description>.sql``) have keys from here on,
#: above every versioned key, ordered by description as Flyway orders them
REPEATABLE_BASE = 10**310
#: bytes of a repeatable's description that its key holds
REPEATABLE_BYTES = 128


def repeatable_key(description: str) -> int:
    """The key of Flyway's ``R__<description>.sql``: above every version, in the
    order of the descriptions (compared as UTF-8 bytes)."""
    data = description.encode("utf-8")
    if len(data) > REPEATABLE_BYTES:
        raise UsageError(
            f"repeatable migration description {description!r} is longer than "
            f"{REPEATABLE_BYTES} bytes",
            hint="shorten the file name",
        )
    return REPEATABLE_BASE + int.from_bytes(data.ljust(REPEATABLE_BYTES, b"\0"), "big")


def is_repeatable_key(key: int) -> bool:
    return key >= REPEATABLE_BASE


def repeatable_text(key: int) -> str:
    data = (key - REPEATABLE_BASE).to_bytes(REPEATABLE_BYTES, "big").rstrip(b"\0")
    return "R__" + data.decode("utf-8", "replace")


#: how each version scheme reads a version text, and writes a key back
SCHEMES: dict[str, tuple[Callable[[str], int], Callable[[int], str]]] = {
    "digits": (digits_key, str),
    "flyway": (flyway_key, flyway_text),
    "diesel": (diesel_key, diesel_text),
}


def version_key(scheme: str, text: str) -> int:
    """The ordering key of ``text`` under ``scheme`` (``digits``, ``flyway``, ``diesel``)."""
    return SCHEMES[scheme][0](text.strip())


def format_key(scheme: str, key: int) -> str:
    """A key read from the ledger, as a version text of ``scheme``."""
    if is_repeatable_key(key):
        return repeatable_text(key)
    return SCHEMES[scheme][1](key)
