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
