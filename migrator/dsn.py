"""Never printing a password: masking connection strings, and every byte of output.

Three layers, each enough for what it sees:

- :func:`mask_dsn` masks a whole connection string by *position*, without parsing it
  (a URL's userinfo after ``user:`` up to the last ``@``, and every ``password=``
  value), so a password with unescaped ``#``, ``?``, ``/``, ``[``, ``@`` or spaces
  is masked even where no parser can make sense of the string;
- :func:`mask_text` masks free text (messages, reports, JSON) by *pattern*: anything
  that looks like a URL with credentials or a ``password=`` keyword, then every
  password registered with :func:`register_secret`, in every form it may be
  printed in (raw, percent-encoded, JSON- or repr-escaped, libpq-quoted);
- :func:`masked_output` wraps ``sys.stdout`` and ``sys.stderr`` so that everything a
  command prints (results, errors, ``--verbose`` tracebacks, progress) goes through
  :func:`mask_text`: one place, every output path.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from typing import TextIO
from urllib.parse import quote, unquote

MASK = "***"
#: registered secrets shorter than this are masked by position only: masking every
#: "ab" in the output would garble it and tell as much as it hides
MIN_SECRET_LENGTH = 4

# The patterns are kept as text and compiled where used (``re`` caches them): a command
# whose output holds no credential-like text never compiles them.
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
#: a URL with ``user:password@`` in free text: the password runs to the last ``@``
#: before the next blank (a password with a raw blank is masked by registration)
_URL_CREDENTIALS = rf"({_SCHEME}[^\s:/?#@'\"]*:)\S*@"
#: a ``password=`` setting (also ``sslpassword=``, ``oauth_client_secret=``): a
#: libpq-quoted value, or everything up to a blank, ``&``, or a quote
_KEYWORD_SECRET = r"(?i)((?:password|client_secret)\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&'\"]+)"
#: ``password: value`` / ``"password": "value"`` (settings shown as JSON or YAML)
_FIELD_SECRET = r"""(?i)((?:password|client_secret)["']?\s*:\s*["']?)[^\s"',}]+"""
#: the next ``&key=`` or `` key=`` after a password value: where the value surely ends
_NEXT_SETTING = r"(?:&|\s+)[A-Za-z_]+\s*="
#: a libpq keyword value in single quotes (``\'`` and ``\\`` escaped); unterminated, it
#: runs to the end
_QUOTED_VALUE = r"(?s)'(?:[^'\\]|\\.)*(?:'|\Z)"

_secrets: set[str] = set()


def mask_dsn(dsn: str) -> str:
    """Return the connection string ``dsn`` with every password replaced by ``***``.

    Works by position, not by parsing (:func:`secret_spans`), so a password that no
    parser accepts is masked too, then masks what :func:`mask_text` masks. Never
    raises.
    """
    pieces: list[str] = []
    position = 0
    for start, end in secret_spans(dsn):
        pieces.append(dsn[position:start] + MASK)
        position = end
    return mask_text("".join(pieces) + dsn[position:])


def secret_spans(dsn: str) -> list[tuple[int, int]]:
    """Where passwords stand in the connection string ``dsn``, as ``(start, end)``:
    in a URL everything after ``user:`` up to the *last* ``@`` (so
    ``postgresql://red:se#c@ret@h/db`` hides ``se#c@ret``), and every ``password=``
    value up to the next ``&key=`` or `` key=``, or the end."""
    spans: list[tuple[int, int]] = []
    if dsn.isascii() and "://" not in dsn and not any(k in dsn.lower() for k in _KEYWORDS):
        return spans  # every command checks its arguments: no pattern to compile for them
    match = re.match(rf"\s*{_SCHEME}", dsn)
    if match:
        at = dsn.rfind("@")
        colon = dsn.find(":", match.end())
        if match.end() <= colon < at:
            spans.append((colon + 1, at))
    for found in re.finditer(r"(?:password|client_secret)\s*=\s*", dsn, re.IGNORECASE):
        if spans and found.start() < spans[-1][1]:
            continue
        # password='..&a=b..': a setting-like text inside the quotes ends nothing
        # and a value is at least one character (password=&a=1 is the password "&a=1")
        quoted = re.compile(_QUOTED_VALUE).match(dsn, found.end())
        after = quoted.end() if quoted else found.end() + 1
        following = re.compile(_NEXT_SETTING).search(dsn, after)
        spans.append((found.end(), following.start() if following else len(dsn)))
    return [(start, end) for start, end in spans if end > start]


def mask_text(text: str) -> str:
    """``text`` with anything that looks like a credential masked: URLs with
    ``user:password@``, ``password=...`` settings, and every registered secret."""
    if not text:
        return text
    text = _sub_at(_URL_CREDENTIALS, text, _url_starts(text), rf"\1{MASK}@")
    if text.isascii():
        # a match of these patterns starts where a keyword does; in ASCII text the
        # lowered text has the same positions, and a plain search of it is far
        # faster than the regular expression's case-insensitive scan (lint's JSON
        # of a large file: 0.4 s of CPU otherwise)
        starts = _keyword_starts(text.lower())
        masked = _sub_at(_KEYWORD_SECRET, text, starts, rf"\1{MASK}")
        if masked is not text:  # the keywords moved
            starts = _keyword_starts(masked.lower())
        text = _sub_at(_FIELD_SECRET, masked, starts, rf"\1{MASK}")
    else:
        text = re.sub(_KEYWORD_SECRET, rf"\1{MASK}", text)
        text = re.sub(_FIELD_SECRET, rf"\1{MASK}", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


#: the words a password setting starts with (:data:`_KEYWORD_SECRET`, ``_FIELD_SECRET``)
_KEYWORDS = ("password", "client_secret")
#: the characters of a URL scheme (:data:`_SCHEME`)
_SCHEME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _keyword_starts(lowered: str) -> list[int]:
    """Where a keyword of :data:`_KEYWORDS` starts in ``lowered``, in order."""
    starts: list[int] = []
    for keyword in _KEYWORDS:
        found = lowered.find(keyword)
        while found >= 0:
            starts.append(found)
            found = lowered.find(keyword, found + 1)
    return sorted(starts)


def _url_starts(text: str) -> list[int]:
    """Where a match of :data:`_URL_CREDENTIALS` may start: every letter of the run of
    scheme characters before each ``://`` (a scheme starts with a letter, and cannot
    hold ``:`` or ``/``), in order."""
    starts: list[int] = []
    found = text.find("://")
    while found >= 0:
        start = found
        while start > 0 and text[start - 1] in _SCHEME_CHARACTERS:
            start -= 1
        starts.extend(i for i in range(start, found) if text[i].isalpha())
        found = text.find("://", found + 3)
    return starts


def _sub_at(pattern: str, text: str, starts: list[int], template: str) -> str:
    """``pattern.sub(template, text)`` for a pattern whose every match starts at one of
    ``starts`` (in order): the same leftmost, non-overlapping matches, found by trying
    only there (a start inside an earlier match is passed over, as the scan of
    ``re.sub`` goes on from the end of each match)."""
    if not starts:
        return text
    compiled = re.compile(pattern)
    pieces: list[str] = []
    position = 0
    for start in starts:
        if start < position:
            continue
        found = compiled.match(text, start)
        if found is None:
            continue
        pieces.append(text[position:start])
        pieces.append(found.expand(template))
        position = found.end()
    if not pieces:
        return text  # nothing matched: the same text, unchanged
    pieces.append(text[position:])
    return "".join(pieces)


def secret_forms(secret: str) -> set[str]:
    """The ways ``secret`` may appear in output: as given, percent-encoded (all or
    only the characters a URL needs encoded), percent-decoded, escaped for JSON and
    for a Python repr, and quoted the way libpq keyword strings quote."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret, safe="!$&'()*+,;=:~-._"),
        unquote(secret),
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        secret.replace("\\", "\\\\").replace("'", "\\'"),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` (a password) in all output of this process from now on, in
    every form :func:`secret_forms` lists."""
    if secret:
        _secrets.update(secret_forms(secret))


def register_dsn_secrets(dsn: str | None) -> None:
    """Register what stands where a password stands in ``dsn``, parseable or not
    (:func:`secret_spans`), and each blank-separated piece of it."""
    for start, end in secret_spans(dsn or ""):
        span = (dsn or "")[start:end]
        register_secret(span)
        for piece in span.split():
            register_secret(piece)
        if len(span) >= 2 and span[0] == span[-1] == "'":
            register_secret(span[1:-1].replace("\\'", "'").replace("\\\\", "\\"))


def forget_secrets() -> None:
    """Forget every registered secret (the end of one command run in this process)."""
    _secrets.clear()


def scrub(text: str, secrets: list[str]) -> str:
    """Remove every known secret (passwords) from a message before it is shown. A
    secret shorter than :data:`MIN_SECRET_LENGTH` is masked where it stands as a
    password (:func:`mask_text`), not wherever its characters occur: a password ``p``
    would otherwise turn ``postgresql://`` into ``***ostgresql://``."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return mask_text(text)


class MaskedDsn(str):
    """A connection string whose ``repr`` masks the password: what a failing pytest
    test shows of its fixtures (``migrator_server_url = 'postgresql://app:***@...'``)
    and what any debugger or log shows of it. Its value is the full string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_dsn(str.__str__(self)))


class MaskedStream:
    """A text stream that passes every write through :func:`mask_text`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask_text(text))
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


@contextlib.contextmanager
def masked_output() -> Iterator[None]:
    """Mask everything written to ``sys.stdout`` and ``sys.stderr`` inside the block;
    secrets registered inside it are forgotten at its end."""
    saved = sys.stdout, sys.stderr
    sys.stdout = MaskedStream(saved[0])
    sys.stderr = MaskedStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        forget_secrets()
