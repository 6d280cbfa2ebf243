"""The rule cases whose label depends on what PostgreSQL does, run on the real server.

A case with a ``pg`` table (tests/lint/cases/*.toml) states what PostgreSQL 15 does
with its SQL after its ``earlier`` migrations, ``pg.setup`` and ``pg.rows`` (rows in
the tables): ``rewrite`` (the table's relfilenode changes), ``rebuilt`` (the indexes
whose relfilenode changes), ``scan`` (``pg_stat_user_tables.seq_scan`` of the table
grows), ``fails``, ``inserted`` (rows the table gained), ``locked`` (the tables that
existed before and are held in a lock that blocks writes when the migration's last
statement ran). This test checks each
statement against the server; test_rule_cases.py checks the linter's verdict on the
same case.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from migrator.ephemeral import EphemeralServer
from tests.conftest import fresh_database
from tests.lint.pgcheck import assert_observed, observe, schema_name
from tests.lint.test_rule_cases import CASES

PG_CASES = [case for case in CASES if "pg" in case.values[0]]


@pytest.fixture(scope="module")
def shared_database(pg_server: EphemeralServer) -> Iterator[str]:
    """One database for all the cases: each runs in a schema of its own."""
    yield from fresh_database(pg_server, "cases")


@pytest.mark.parametrize("case", PG_CASES)
def test_postgres_does_what_the_case_says(case: dict[str, Any], shared_database: str) -> None:
    expected = case["pg"]
    before = [*case.get("earlier", ()), expected.get("setup", ""), expected.get("rows", "")]
    seen = observe(
        shared_database,
        [text for text in before if text],
        case["sql"],
        expected["table"],
        schema_name(f"{case['rule']}_{case['id']}"),
    )
    assert_observed(seen, expected)
