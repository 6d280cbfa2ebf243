"""The one statement model (:class:`migrator.sql.split.Statement`): the file is parsed
once; a statement's JSON tree comes from that parse, its AST is parsed once when asked
for, and a statement of a file that does not parse is parsed on its own once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from migrator.sql import parse, split, syntax
from migrator.sql.file_replay import Replay
from migrator.sql.parse import parse_one
from migrator.sql.split import split_statements

TEXT = (
    "CREATE TABLE items (id bigint PRIMARY KEY, email text);\n"
    "CREATE OR REPLACE VIEW emails AS SELECT email FROM items;\n"
    "ALTER TABLE items ADD COLUMN note text, ALTER COLUMN email SET NOT NULL;\n"
)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the parser's calls made through the sql layer."""
    counted: Counter[str] = Counter()
    parser = parse.pg_parser

    def counting(name: str) -> Any:
        real = getattr(parser, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)

        return call

    for module in (parse, split, syntax):
        fake = type("Parser", (), {})()
        for name in ("parse_sql_json", "parse_sql", "split", "scan"):
            setattr(fake, name, staticmethod(counting(name)))
        fake.ParseError = parser.ParseError  # type: ignore[attr-defined]
        monkeypatch.setattr(module, "pg_parser", fake)
    yield counted


def test_a_file_is_parsed_once_and_each_ast_once(calls: Counter[str]) -> None:
    statements = split_statements(TEXT).statements
    assert calls == Counter(parse_sql_json=1)
    for statement in statements:
        assert statement.parsed is not None
        assert statement.parsed.kind == statement.kind
        assert statement.kind_and_fields() == (statement.parsed.kind, statement.parsed.fields)
    assert calls == Counter(parse_sql_json=1)  # trees come from the file's parse
    nodes = [statement.node for statement in statements]
    assert [syntax.kind_of(node) for node in nodes] == ["CreateStmt", "ViewStmt", "AlterTableStmt"]
    assert [statement.node for statement in statements] == nodes
    assert calls == Counter(parse_sql_json=1, parse_sql=3)


def test_a_rewritten_statement_keeps_its_place_and_the_ast_it_was_given(
    calls: Counter[str],
) -> None:
    alter = split_statements(TEXT).statements[2]
    first = alter.node.cmds[0]
    node = syntax.parse_node("ALTER TABLE items ADD COLUMN note text")
    assert syntax.kind_of(first) == "AlterTableCmd"
    calls.clear()
    unit = alter.rewritten("ALTER TABLE items ADD COLUMN note text", node)
    assert (unit.line, unit.start, unit.tree) == (alter.line, alter.start, None)
    assert unit.node is node
    assert calls == Counter()  # the AST was given
    assert unit.kind == "AlterTableStmt"
    assert calls == Counter(parse_sql_json=1)  # its JSON tree: parsed on its own, once
    assert unit.kind_and_fields() == parse_one(unit.text)
    assert calls == Counter(parse_sql_json=2)  # (parse_one itself parsed once more)


def test_a_statement_of_a_broken_file_is_parsed_alone_once(calls: Counter[str]) -> None:
    statements = split_statements("SELEC 1;\n" + TEXT).statements
    view = statements[2]
    assert view.tree is None
    calls.clear()
    header = view.kind_and_fields(view_query=False)
    assert view.kind_and_fields() == parse_one(view.text)
    assert header == parse_one(view.text, view_query=False)  # the query left out
    assert calls["parse_sql_json"] == 1 + 2  # the statement once, parse_one twice


def test_the_replay_applies_the_model_trees() -> None:
    from migrator.sql.catalog import Catalog

    catalog = Catalog()
    Replay(catalog).file(split_statements(TEXT).statements, "0001.up")
    items = catalog.table("public.items")
    assert items is not None
    assert [c.name for c in items.columns] == ["id", "email", "note"]
    email = items.column("email")
    assert email is not None and email.not_null
    assert catalog.table("public.emails") is not None


def _apply(replay: Replay, sql: str) -> bool:
    parsed = parse_one(sql)
    assert parsed is not None
    return replay.apply(*parsed)


def test_the_replay_runs_statements_in_the_runners_transactions() -> None:
    from migrator.sql.catalog import Catalog

    catalog = Catalog()
    replay = Replay(catalog)
    replay.begin_file("0001.up", transactional=False)  # -- migrate:no-transaction
    assert _apply(replay, "CREATE TABLE a (id int)") is True  # each in its own
    assert _apply(replay, "BEGIN") is False
    assert replay.explicit
    assert _apply(replay, "CREATE TABLE b (id int)") is False  # grouped by BEGIN
    assert _apply(replay, "CREATE TABLE c (id int)") is False
    assert _apply(replay, "COMMIT") is True
    assert not replay.explicit
    a, b, c = (catalog.table(f"public.{name}") for name in "abc")
    assert a is not None and b is not None and c is not None
    assert b.origin.transaction == c.origin.transaction != a.origin.transaction
    replay.begin_file("0002.up")  # in the runner's transaction
    assert _apply(replay, "CREATE TABLE d (id int)") is False
    assert _apply(replay, "COMMIT") is True  # a commit point: what follows is new
    d = catalog.table("public.d")
    assert d is not None and catalog.is_new(d) and not catalog.is_new(a)
