"""migrator.db.libpq answers as psycopg's binding of the same libpq does: the same
options and values for any connection string, the same message for a refused one."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import pq

from migrator.db import libpq

KEYWORDS = [option.keyword.decode() for option in pq.Conninfo.get_defaults()]

#: keyword=value strings, quoted or not, with a stray unknown keyword now and then
_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
_pair = st.tuples(st.sampled_from([*KEYWORDS, "nosuchkeyword"]), _value, st.booleans()).map(
    lambda kv: f"{kv[0]}='{kv[1]}'" if kv[2] else f"{kv[0]}={kv[1]}"
)
_keyword_strings = st.lists(_pair, max_size=5).map(" ".join)
_urls = st.builds(
    lambda user, password, host, db, query: f"postgresql://{user}:{password}@{host}/{db}?{query}",
    _value,
    _value,
    _value,
    _value,
    st.lists(st.tuples(st.sampled_from([*KEYWORDS, "bogus"]), _value), max_size=3).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
    ),
)
_anything = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=40)


def _psycopg(conninfo: bytes) -> list[tuple[bytes, bytes | None]] | str:
    try:
        return [(option.keyword, option.val) for option in pq.Conninfo.parse(conninfo)]
    except Exception as exc:
        return str(exc)


def _ours(conninfo: bytes) -> list[tuple[bytes, bytes | None]] | str:
    try:
        return [(option.keyword, option.val) for option in libpq.parse(conninfo)]
    except libpq.ConninfoError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_keyword_strings, _urls, _anything))
def test_parse_agrees_with_psycopg(conninfo: str) -> None:
    encoded = conninfo.encode()
    assert _ours(encoded) == _psycopg(encoded)


def test_defaults_agree_with_psycopg() -> None:
    theirs = [
        (option.keyword, option.envvar, option.compiled, option.dispchar or b"")
        for option in pq.Conninfo.get_defaults()
    ]
    ours = [
        (option.keyword, option.envvar, option.compiled, option.dispchar)
        for option in libpq.defaults()
    ]
    assert ours == theirs


def test_a_refused_string_says_what_libpq_says() -> None:
    with pytest.raises(libpq.ConninfoError, match='invalid connection option "foo"'):
        libpq.parse(b"foo=bar")


@pytest.mark.parametrize("conninfo", [b"host=h port=5 password='a b'", b"nosuch=1", b"user='x"])
def test_without_a_loadable_libpq_it_falls_back_to_psycopg(
    conninfo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _ours(conninfo)
    monkeypatch.setattr(libpq, "_library", lambda: None)
    assert _ours(conninfo) == expected
    assert [o.keyword for o in libpq.defaults()] == [o.keyword for o in pq.Conninfo.get_defaults()]


def test_connecting_does_not_import_psycopg() -> None:
    """The point of the module: resolving a connection string loads libpq, not psycopg."""
    code = (
        "import sys\n"
        "from migrator.db.target import parse_target\n"
        "parse_target('postgresql://u:secret@127.0.0.1:1/db?sslmode=disable')\n"
        "print('psycopg' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"
