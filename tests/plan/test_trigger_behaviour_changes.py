"""Replacing a trigger function (``CREATE OR REPLACE FUNCTION`` of one that exists),
``CREATE OR REPLACE TRIGGER`` and ``ENABLE | DISABLE TRIGGER`` change what running code's
writes do from the moment they commit, as a default change does (finding F-hostile-7,
lemmy's 0169: the trigger function replaced in the expand, then a batched DELETE; sites
inserted in between got the new behaviour, where the naive file, run at once, gives
them the old one). They commit last, or the plan is refused when a later migration
would let old code write in between."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE site (id int PRIMARY KEY);\n"
    "CREATE TABLE site_aggregates (id serial PRIMARY KEY, site_id int);\n"
    "CREATE FUNCTION site_aggregates_site() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN INSERT INTO site_aggregates (site_id) VALUES (NEW.id); RETURN NULL; END $$;\n"
    "CREATE TRIGGER site_aggregates_site AFTER INSERT ON site FOR EACH ROW\n"
    "  EXECUTE FUNCTION site_aggregates_site();\n"
)
REPLACE_FUNCTION = (
    "CREATE OR REPLACE FUNCTION site_aggregates_site() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN RETURN NULL; END $$;\n"
)
DELETE = "DELETE FROM site_aggregates WHERE site_id > 10;\n"
REFUSED = "changes what running code's inserts"


@pytest.mark.parametrize(
    "moment",
    [
        REPLACE_FUNCTION,
        "CREATE OR REPLACE TRIGGER site_aggregates_site AFTER INSERT OR UPDATE ON site "
        "FOR EACH ROW EXECUTE FUNCTION site_aggregates_site();\n",
        "ALTER TABLE site DISABLE TRIGGER site_aggregates_site;\n",
        "ALTER TABLE site ENABLE ALWAYS TRIGGER site_aggregates_site;\n",
    ],
    ids=["replace-function", "replace-trigger", "disable", "enable-always"],
)
def test_a_trigger_behaviour_change_before_a_batched_delete_is_refused(
    tmp_path: Path, moment: str
) -> None:
    with pytest.raises(CannotPlan, match=REFUSED):
        Project.create(tmp_path, BASE).plan(moment + DELETE)


@pytest.mark.parametrize(
    "change",
    [
        REPLACE_FUNCTION,  # alone: it commits when the file would
        DELETE
        + REPLACE_FUNCTION.replace("CREATE OR REPLACE", "CREATE").replace(
            "site_aggregates_site()", "other_trigger_function()"
        ),  # a new function: nothing runs it yet
        "CREATE OR REPLACE FUNCTION helper() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        + DELETE,  # not a trigger function
    ],
    ids=["alone", "new-function", "not-a-trigger-function"],
)
def test_other_functions_are_planned(tmp_path: Path, change: str) -> None:
    assert Project.create(tmp_path, BASE).plan(change).plan.migrations


AUDIT = (
    "CREATE TRIGGER site_audit AFTER UPDATE ON site FOR EACH ROW "
    "EXECUTE FUNCTION site_aggregates_site();\n"
)


@pytest.mark.parametrize(
    "moment",
    [
        AUDIT,
        "DROP TRIGGER site_aggregates_site ON site;\n",
        "DROP TRIGGER IF EXISTS site_aggregates_site ON public.site;\n",
    ],
    ids=["create", "drop", "drop-qualified"],
)
def test_creating_or_dropping_a_trigger_of_a_written_table_is_a_moment_change(
    tmp_path: Path, moment: str
) -> None:
    """Finding F53: a new trigger (or a dropped one) on a table old code writes changes
    what its writes do from the moment it commits: before a batched DELETE, refused."""
    with pytest.raises(CannotPlan, match=REFUSED):
        Project.create(tmp_path, BASE).plan(moment + DELETE)


def test_a_trigger_created_after_an_index_build_commits_after_it(tmp_path: Path) -> None:
    """F53's case: the plan committed the trigger in its first migration and built the
    index after it; now the trigger commits last (after the concurrent build)."""
    result = Project.create(tmp_path, BASE).plan(
        "CREATE INDEX site_aggregates_site_id_idx ON site_aggregates (site_id);\n" + AUDIT
    )
    bodies = [version.files[0].text for version in result.versions]
    assert "CONCURRENTLY" in bodies[0] and "CREATE TRIGGER" not in bodies[0]
    assert "CREATE TRIGGER site_audit" in bodies[-1]


def test_a_trigger_on_a_table_the_file_creates_is_no_moment_change(tmp_path: Path) -> None:
    change = (
        "CREATE TABLE notes (id int PRIMARY KEY);\n"
        "CREATE TRIGGER notes_audit AFTER INSERT ON notes FOR EACH ROW "
        "EXECUTE FUNCTION site_aggregates_site();\n"
        "DROP TRIGGER notes_audit ON notes;\n" + DELETE
    )
    assert Project.create(tmp_path, BASE).plan(change).plan.migrations
