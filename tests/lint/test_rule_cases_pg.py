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

from typing import Any

import pytest

from tests.lint.pgcheck import observe
from tests.lint.test_rule_cases import CASES

PG_CASES = [case for case in CASES if "pg" in case.values[0]]


@pytest.mark.parametrize("case", PG_CASES)
def test_postgres_does_what_the_case_says(case: dict[str, Any], database_url: str) -> None:
    expected = case["pg"]
    before = [*case.get("earlier", ()), expected.get("setup", ""), expected.get("rows", "")]
    seen = observe(database_url, [text for text in before if text], case["sql"], expected["table"])
    if "fails" in expected:
        assert (seen.failed is not None) is expected["fails"], seen
    else:
        assert seen.failed is None, seen.failed
    if "rewrite" in expected:
        assert seen.rewritten is expected["rewrite"], seen
    if "rebuilt" in expected:
        assert seen.rebuilt == set(expected["rebuilt"]), seen
    if "scan" in expected:
        assert (seen.seq_scans > 0) is expected["scan"], seen
    if "inserted" in expected:
        assert seen.inserted == expected["inserted"], seen
    if "locked" in expected:
        assert seen.locked == set(expected["locked"]), seen
