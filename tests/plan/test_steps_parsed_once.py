"""The planner reads its steps' trees (what each statement locks, whether it moves a
change later): a step that runs a statement of the change file as written carries the
tree of the file's parse, a step the planner wrote is parsed once, when first read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.plan.model import AS_WRITTEN, Slot, Step
from migrator.plan.planner import plan_changes
from migrator.plan.recipes.target import PlanOptions
from migrator.source import discover
from migrator.sql import parse
from migrator.sql.split import split_statements

BASE = "CREATE TABLE items (id bigint PRIMARY KEY, note text);\n"

#: statements the planner passes through as written (a table the file creates, its
#: index and comment: no client uses them yet)
AS_WRITTEN_FILE = (
    "CREATE TABLE tags (id bigint PRIMARY KEY, label text NOT NULL);\n"
    "CREATE INDEX tags_label_idx ON tags (label);\n"
    "COMMENT ON TABLE tags IS 'labels';\n"
)


@pytest.fixture
def parsed_texts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """The texts given to the parser's JSON entry point (the file's parse and every
    statement parsed on its own)."""
    texts: Counter[str] = Counter()
    real = parse.pg_parser

    class Counting:
        ParseError = real.ParseError

        @staticmethod
        def parse_sql_json(text: str) -> Any:
            texts[text] += 1
            return real.parse_sql_json(text)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(parse, "pg_parser", Counting())
    yield texts


def _earlier(tmp_path: Path) -> list[Any]:
    (tmp_path / "001_base.up.sql").write_text(BASE)
    return list(discover(tmp_path).migrations)


def test_statements_planned_as_written_are_not_parsed_again(
    tmp_path: Path, parsed_texts: Counter[str]
) -> None:
    earlier = _earlier(tmp_path)
    changes = plan_changes(AS_WRITTEN_FILE, "change.sql", earlier, PlanOptions())
    steps = [step for change in changes for step in change.steps]
    assert [step.note for step in steps] == [AS_WRITTEN] * 3
    # the earlier migration and the change file, each parsed whole, once
    assert parsed_texts == Counter({BASE: 1, AS_WRITTEN_FILE: 1})
    # the trees the steps carry (what the planner read to split the expand migrations
    # and check the file's order) are the file's, read without a parse
    trees = [step.statements for step in steps]
    assert parsed_texts == Counter({BASE: 1, AS_WRITTEN_FILE: 1})
    statements = split_statements(AS_WRITTEN_FILE).statements
    for tree, statement in zip(trees, statements, strict=True):
        assert tree is not None and statement.parsed is not None
        assert [s.kind for s in tree] == [statement.parsed.kind]
        assert tree[0].fields == statement.parsed.fields


def test_a_step_the_planner_wrote_is_parsed_once_when_read(parsed_texts: Counter[str]) -> None:
    step = Step(Slot.CONTRACT_SWAP, "ALTER TABLE items DROP COLUMN IF EXISTS note", "")
    assert parsed_texts == Counter()
    first = step.statements
    assert first is not None and [s.kind for s in first] == ["AlterTableStmt"]
    assert step.statements is first
    assert parsed_texts == Counter({step.sql: 1})
    # a copy with other attributes keeps the tree; one with other SQL has its own
    ignored = step.but(lint_ignore=("drop-column", "contract phase"))
    assert ignored.statements is first
    other = step.but(sql="DROP TABLE items")
    assert other.statements is not None and [s.kind for s in other.statements] == ["DropStmt"]
    assert parsed_texts == Counter({step.sql: 1, other.sql: 1})


def test_a_written_step_given_other_sql_is_parsed_from_it() -> None:
    (statement,) = split_statements("CREATE INDEX tags_label_idx ON tags (label)").statements
    assert statement.parsed is not None
    step = Step(Slot.EXPAND, statement.text, AS_WRITTEN).written(statement.parsed)
    assert step.statements is not None and step.statements[0].kind == "IndexStmt"
    moved = step.but(sql="DROP INDEX tags_label_idx")
    assert moved.statements is not None and moved.statements[0].kind == "DropStmt"
