"""The changes of grammar_extra.py (identity columns that are not the key, list and
hash partitioning, UPDATE ... FROM another table, materialized views, triggers),
planned and proven like the corpus (harness.py). Apart from test_generated.py, so that
a seed of the first grammar draws the same changes as before: a few examples,
derandomized, in the default suite; thousands with ``pytest -m slow``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from tests.plan.differential.grammar_extra import extra_cases
from tests.plan.differential.harness import Case
from tests.plan.differential.test_generated import QUIET, _prove


@settings(
    max_examples=12, derandomize=True, deadline=None, database=None, suppress_health_check=QUIET
)
@given(case=extra_cases())
def test_a_generated_change_of_the_extra_grammar_matches_the_naive_sql_or_refuses(
    case: Case, database_pair: tuple[str, str]
) -> None:
    _prove(case, database_pair)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=QUIET)
@given(case=extra_cases())
def test_many_generated_changes_of_the_extra_grammar_match_the_naive_sql_or_refuse(
    case: Case, database_pair: tuple[str, str]
) -> None:
    _prove(case, database_pair)
