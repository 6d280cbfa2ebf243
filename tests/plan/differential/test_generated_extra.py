"""The changes of grammar_extra.py (identity columns that are not the key, list and
hash partitioning, UPDATE ... FROM another table, materialized views, triggers),
planned and proven like the corpus (harness.py). Apart from test_generated.py, so that
a seed of the first grammar draws the same changes as before: a few examples,
derandomized, in the default suite; thousands with ``pytest -m slow``."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import Phase, find, given, settings

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


def _drawn(condition: Callable[[Case], bool]) -> Case:
    """The first case the extra grammar draws that meets ``condition`` (derandomized,
    not shrunk: the grammar alone, no database)."""
    quick = settings(max_examples=3000, database=None, derandomize=True, phases=[Phase.generate])
    return find(extra_cases(), condition, settings=quick)


def test_the_extra_grammar_rebuilds_views_around_a_change_of_a_column_they_show() -> None:
    case = _drawn(lambda c: "DROP VIEW a_view" in c.change and "RENAME COLUMN" in c.change)
    renamed = re.search(
        r"ALTER TABLE a RENAME COLUMN \w+ TO (\w+);\nCREATE VIEW a_view", case.change
    )
    assert renamed is not None, case.change
    assert re.search(f"CREATE VIEW a_view AS SELECT (id, )?{renamed[1]} FROM a", case.change)


#: two columns with volatile defaults added to one table, one statement after the other
TWO_VOLATILE = re.compile(
    r"ALTER TABLE (\w+) ADD COLUMN \w+_v\d+ [^;]*random[^;]*;\n"
    r"ALTER TABLE \1 ADD COLUMN \w+_v\d+ [^;]*random"
)


def test_the_extra_grammar_adds_two_columns_with_volatile_defaults_to_one_table() -> None:
    assert TWO_VOLATILE.search(_drawn(lambda c: TWO_VOLATILE.search(c.change) is not None).change)
