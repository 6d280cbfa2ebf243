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


def _prove(case: Case, database_pair: tuple[str, str]) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        outcome = run(run_case(case, *database_pair, Path(workdir)))
    assert outcome.problems == [], (
        f"{outcome.summary()}\n-- schema\n{case.schema}-- seed\n{case.seed}-- change\n{case.change}"
    )


@settings(
    max_examples=24, derandomize=True, deadline=None, database=None, suppress_health_check=QUIET
)
@given(case=cases())
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
