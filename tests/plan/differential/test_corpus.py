"""Every change of the corpus (cases/*.toml, one pytest id each), planned and proven
against the naive SQL by the differential harness (harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plan.differential.harness import Case, corpus, run_case
from tests.plan.scenario import run

CASES = corpus()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_plan_matches_the_naive_sql_or_refuses(
    case: Case, database_pair: tuple[str, str], tmp_path: Path
) -> None:
    outcome = run(run_case(case, *database_pair, tmp_path))
    assert outcome.problems == [], outcome.summary()
    assert outcome.verdict in {"refused", "equal", "both failed"}
    if outcome.verdict != "refused":
        assert outcome.writes > 0
