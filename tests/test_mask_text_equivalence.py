"""``mask_text`` finds its pattern matches by trying only where one can start (the fast
path that keeps ``migrate lint --format json`` of a large file from spending most of
its time masking); it must mask exactly what the plain ``re.sub`` scan masks, on any
text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator import dsn

#: pieces that make the patterns match, almost match, overlap and nest
PIECES = [
    "password",
    "PassWord",
    "PASSWORD",
    "client_secret",
    "sslpassword",
    "pa\u017f\u017fword",  # the long s: re's IGNORECASE folds it to s
    "://",
    "postgres",
    "x1",
    "1",
    "+.-",
    "@",
    ":",
    "=",
    " = ",
    "'",
    '"',
    "\\'",
    " ",
    "\n",
    "&",
    "/",
    "?",
    "#",
    ",",
    "}",
    "u",
    "secret",
    "é",
    "\u212a",  # the Kelvin sign: IGNORECASE folds it to k
]


def plain(text: str) -> str:
    """What ``mask_text`` did by scanning with ``re.sub`` (no registered secrets)."""
    text = re.sub(dsn._URL_CREDENTIALS, rf"\1{dsn.MASK}@", text)
    text = re.sub(dsn._KEYWORD_SECRET, rf"\1{dsn.MASK}", text)
    return re.sub(dsn._FIELD_SECRET, rf"\1{dsn.MASK}", text)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_the_fast_path_masks_what_re_sub_masks(text: str) -> None:
    assert dsn.mask_text(text) == plain(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text(text: str) -> None:
    assert dsn.mask_text(text) == plain(text)


def test_examples() -> None:
    for text in (
        "postgresql://app:s3cret@db/x and password=hunter2 & {'password': 'x'}",
        "1http://u:p@h 123://u:p@h ab1http://u:p@h",
        "PASSWORD = \"q\" client_secret=abc sslpassword='a b'",
        '{"password": "v", "x": "postgres://a:b@c"}',
    ):
        assert dsn.mask_text(text) == plain(text)
        assert dsn.MASK in dsn.mask_text(text)
