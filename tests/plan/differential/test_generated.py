"""Random small schemas with rows and views, and random 1-4 statement changes
(grammar.py), planned and proven like the corpus (harness.py). A few dozen examples,
derandomized, in the default suite; thousands with ``pytest -m slow``. Every failure
found becomes a case of the corpus (cases/*.toml) once understood."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.plan.differential.grammar import cases
from tests.plan.differential.harness import Case, run_case
from tests.plan.scenario import run

QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]

#: planner bugs the generator found that are not fixed yet (reported with their
#: numbers on issue 14): the default examples do not draw their changes, the slow
#: variant draws everything. F13: DROP VIEW runs in the expand, under old clients.
#: F17: a data change, then a validation that fails: the naive file changes nothing,
#: the plan has run the UPDATE. F18: a batched UPDATE after the deploy point overwrites
#: what new clients wrote. F19: the same SET NOT NULL twice collides on a made-up name.
OPEN_FINDINGS = frozenset({"F13", "F17", "F18", "F19"})


def _prove(case: Case, database_pair: tuple[str, str]) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        outcome = run(run_case(case, *database_pair, Path(workdir)))
    assert outcome.problems == [], (
        f"{outcome.summary()}\n-- schema\n{case.schema}-- seed\n{case.seed}-- change\n{case.change}"
    )


@settings(
    max_examples=24, derandomize=True, deadline=None, database=None, suppress_health_check=QUIET
)
@given(case=cases(avoid=OPEN_FINDINGS))
def test_a_generated_change_matches_the_naive_sql_or_refuses(
    case: Case, database_pair: tuple[str, str]
) -> None:
    _prove(case, database_pair)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=QUIET)
@given(case=cases())
def test_many_generated_changes_match_the_naive_sql_or_refuse(
    case: Case, database_pair: tuple[str, str]
) -> None:
    _prove(case, database_pair)
