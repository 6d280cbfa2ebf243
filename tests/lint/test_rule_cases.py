"""Data-driven rule cases: every [[case]] in tests/lint/cases/*.toml is one test.

A case says which rule must (``flag = true``) or must not (``flag = false``) fire on
its ``sql``, given the ``earlier`` migrations as schema context.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from migrator.lint.options import LintOptions
from migrator.lint.registry import RULE_IDS
from tests.lint.lintcases import lint_sql

CASES_DIR = Path(__file__).parent / "cases"


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        for case in tomllib.loads(path.read_text())["case"]:
            params.append(pytest.param(case, id=f"{case['rule']}:{case['id']}"))
    return params


CASES = _load()


@pytest.mark.parametrize("case", CASES)
def test_rule_case(case: dict[str, Any]) -> None:
    assert case["rule"] in RULE_IDS, f"unknown rule {case['rule']}"
    options = LintOptions(runner_lock_timeout_ms=case.get("lock_timeout", 5000))
    if "pg_version" in case:
        options = replace(options, pg_version=case["pg_version"])
    findings = lint_sql(
        case["sql"], case.get("earlier", ()), options=options, down=case.get("down")
    )
    hits = [f for f in findings if f.rule == case["rule"]]
    if case["flag"]:
        assert hits, f"{case['rule']} did not fire; findings: {findings}"
        if "message" in case:
            assert any(case["message"] in f.message + f.help for f in hits), hits
        if "count" in case:
            assert len(hits) == case["count"], hits
        if "lines" in case:
            assert [f.line for f in hits] == case["lines"], hits
        if "plannable" in case:
            assert all(f.plannable is case["plannable"] for f in hits), hits
    else:
        assert not hits, f"{case['rule']} fired: {hits}"


def test_every_rule_has_cases_that_flag_and_pass() -> None:
    flagged: dict[str, set[bool]] = {}
    for param in CASES:
        case = param.values[0]
        flagged.setdefault(case["rule"], set()).add(case["flag"])
    engine_only = {"invalid-migration-file"}
    missing = sorted(rule for rule in RULE_IDS - engine_only if flagged.get(rule) != {True, False})
    assert not missing, f"rules without both a flagging and a passing case: {missing}"
