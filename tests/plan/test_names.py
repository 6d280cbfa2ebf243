"""Names the planner makes up (sync functions and triggers, temporary checks, copies
of columns, indexes and constraints) fit PostgreSQL's 63 bytes and never collide."""

from __future__ import annotations

import re
from pathlib import Path

from migrator.plan.sql_text import bounded_name
from tests.plan.scenario import Project

TABLE = "tbl_" + "a" * 55
COLUMNS = ("col_" + "a" * 55 + "_one", "col_" + "a" * 55 + "_two")


def test_short_names_are_kept_as_they_are() -> None:
    assert bounded_name("migrator", "items", "email", suffix="sync") == "migrator_items_email_sync"


def test_long_names_that_share_a_prefix_stay_distinct_and_fit() -> None:
    one = bounded_name("migrator", TABLE, COLUMNS[0], suffix="sync")
    two = bounded_name("migrator", TABLE, COLUMNS[1], suffix="sync")

    assert one != two
    assert len(one.encode()) <= 63 and len(two.encode()) <= 63
    assert one.startswith("migrator_tbl_aaa") and one.endswith("_sync")
    assert bounded_name("migrator", TABLE, COLUMNS[0], suffix="sync") == one  # stable


def test_multibyte_names_are_cut_on_a_character_boundary() -> None:
    name = bounded_name("é" * 40, suffix="new")
    assert len(name.encode()) <= 63
    name.encode().decode()


def test_two_renames_on_a_long_table_get_their_own_helpers(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path,
        f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, {COLUMNS[0]} text, {COLUMNS[1]} text);\n",
    )
    result = project.plan(
        f"ALTER TABLE {TABLE} RENAME COLUMN {COLUMNS[0]} TO x1;\n"
        f"ALTER TABLE {TABLE} RENAME COLUMN {COLUMNS[1]} TO x2;\n"
    )

    expand = "".join(f.text for f in result.files if "-- migrate:phase expand" in f.text)
    functions = re.findall(r"CREATE FUNCTION (\S+)\(\)", expand)
    triggers = re.findall(r"CREATE TRIGGER (\S+) ", expand)
    assert len(functions) == 2 and len(set(functions)) == 2, functions
    assert len(triggers) == 2 and len(set(triggers)) == 2, triggers
    assert all(len(name.encode()) <= 63 for name in functions + triggers)
