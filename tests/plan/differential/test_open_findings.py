"""Changes whose plans the harness proves wrong and the planner does not fix yet
(open/*.toml, each reported with its numbers on issue 14). They run only with
``pytest -m slow``, where they fail until the planner is fixed: then the case moves
to cases/ and into the default suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plan.differential.harness import Case, open_findings, run_case
from tests.plan.scenario import run

OPEN = open_findings()


@pytest.mark.slow
@pytest.mark.parametrize("case", OPEN, ids=[case.id for case in OPEN])
def test_an_open_finding_matches_the_naive_sql_or_refuses(
    case: Case, database_pair: tuple[str, str], tmp_path: Path
) -> None:
    outcome = run(run_case(case, *database_pair, tmp_path))
    assert outcome.problems == [], outcome.summary()
