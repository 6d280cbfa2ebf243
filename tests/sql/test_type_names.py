"""Column types as the linter and planner write them in messages and SQL."""

from __future__ import annotations

import json

import pytest
from pglast import parser

from migrator.sql.names import type_ref


def _type(written: str) -> str:
    tree = json.loads(parser.parse_sql_json(f"SELECT NULL::{written}"))
    value = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    return type_ref(value["TypeCast"]["typeName"]).sql


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("interval", "interval"),
        ("interval(3)", "interval(3)"),
        ("interval day to second", "interval day to second"),
        ("interval day to second(3)", "interval day to second(3)"),
        ("interval year", "interval year"),
        ("varchar(20)", "varchar(20)"),
        ("numeric(10, 2)", "numeric(10, 2)"),
        ("timestamp(3) with time zone", "timestamptz(3)"),
    ],
)
def test_types_are_shown_as_written(written: str, shown: str) -> None:
    assert _type(written) == shown
