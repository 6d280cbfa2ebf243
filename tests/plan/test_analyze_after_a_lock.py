"""``ANALYZE`` after a catalog-only change that must not be split from what follows it
(lemmy's 0223: ``ALTER TABLE post ALTER COLUMN url TYPE varchar(2000); ANALYZE post
(url)``) was refused as a statement after ACCESS EXCLUSIVE: it samples the table under
the lock. It fills no gap, so when only ``ANALYZE`` follows, it runs after the commit,
in a migration of its own (hostile's refusals pattern P6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE post (id serial PRIMARY KEY, url varchar(512), name text);\n"
    "CREATE TABLE other (id serial PRIMARY KEY);\n"
    "CREATE VIEW post_urls AS SELECT id, url FROM post;\n"
)
WIDEN = "ALTER TABLE post ALTER COLUMN url TYPE varchar(2000);\n"


@pytest.mark.parametrize(
    "analyze", ["ANALYZE post (url);\n", "ANALYZE post (url);\nANALYZE other;\n"]
)
def test_analyze_after_a_catalog_only_change_runs_after_the_commit(
    tmp_path: Path, analyze: str
) -> None:
    base = BASE.replace("CREATE VIEW post_urls AS SELECT id, url FROM post;\n", "")
    result = Project.create(tmp_path, base).plan(WIDEN + analyze)
    migrations = [[step.sql for step in m.steps] for m in result.plan.migrations]
    assert migrations[0] == ["ALTER TABLE post ALTER COLUMN url TYPE varchar(2000)"]
    assert all(sql.startswith("ANALYZE") for m in migrations[1:] for sql in m)


def test_analyze_between_a_removal_and_what_fills_its_gap_is_still_refused(
    tmp_path: Path,
) -> None:
    """Splitting there would show clients the table without the view."""
    with pytest.raises(CannotPlan, match=r"statements-after-access-exclusive"):
        Project.create(tmp_path, BASE).plan(
            "DROP VIEW post_urls;\n"
            + WIDEN
            + "ANALYZE post (url);\nCREATE VIEW post_urls AS SELECT id, url FROM post;\n"
        )
