"""The bench on real histories (bench/plan_histories.py) knows the indexes a plan adds
on purpose, which the naive SQL does not (a corpus case names them in
``planned_extra``): the one a foreign key gets on its referencing columns, and none
where an index leads with them already."""

from __future__ import annotations

from pathlib import Path

from bench.plan_histories import made_up_indexes
from tests.plan.differential.harness import Case, plan_case

SCHEMA = """
CREATE TABLE language (id int PRIMARY KEY);
CREATE TABLE comment (id int PRIMARY KEY, body text, author_id int);
CREATE INDEX comment_author_id_idx ON comment (author_id);
"""


def _indexes(change: str, tmp_path: Path) -> frozenset[tuple[str, str]]:
    case = Case(id="fk", schema=SCHEMA, seed="", change=change)
    return made_up_indexes(plan_case(case, tmp_path)[1])


def test_a_foreign_key_added_with_its_column_gets_an_index_of_the_plan(tmp_path: Path) -> None:
    change = "ALTER TABLE comment ADD COLUMN language_id integer REFERENCES language"
    assert _indexes(change, tmp_path) == {("index", "public.comment_language_id_idx")}


def test_a_foreign_key_on_an_indexed_column_gets_none(tmp_path: Path) -> None:
    change = "ALTER TABLE comment ADD FOREIGN KEY (author_id) REFERENCES language"
    assert _indexes(change, tmp_path) == frozenset()
