"""StatementTree.range_var_names: the RangeVar names read from the JSON, without decoding
it, are exactly those a walk of the decoded tree finds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.sql.names import quote_ident
from migrator.sql.parse import StatementTree, parse_statements
from migrator.sql.split import streamed
from migrator.sql.tree import walk

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def _walked(tree: StatementTree) -> Counter[tuple[str | None, str]]:
    return Counter(
        (node.get("schemaname"), node.get("relname", ""))
        for kind, node in walk(tree.fields())
        if kind == "RangeVar"
    )


def _read(tree: StatementTree) -> Counter[tuple[str | None, str]]:
    names = tree.range_var_names()
    assert names is not None
    return Counter(names)


def _trees(sql: str) -> list[StatementTree]:
    statements = parse_statements(sql)
    assert statements is not None
    return [tree for _, _, tree in statements]


def test_every_place_a_query_names_a_table() -> None:
    sql = (
        'WITH w AS (SELECT 1 FROM "we""ird" a) INSERT INTO target (a) '
        'SELECT * FROM db.s.t JOIN "Üml" u ON true, w, LATERAL (SELECT * FROM "s\\2".z) q '
        "WHERE EXISTS (SELECT FROM e) RETURNING (SELECT 1 FROM r);"
    )
    (tree,) = _trees(sql)
    assert _read(tree) == Counter(
        [("s", "t"), (None, "Üml"), (None, "w"), ("s\\2", "z"), (None, "e"), (None, "r"),
         (None, 'we"ird')]
    )  # fmt: skip
    assert _read(tree) == _walked(tree)


def test_a_decoded_tree_gives_none() -> None:
    (tree,) = _trees("INSERT INTO t SELECT * FROM s;")
    decoded = StatementTree(tree.kind, fields=tree.fields())
    assert decoded.range_var_names() is None


def test_a_streamed_statement_parses_its_text_again() -> None:
    (statement,) = streamed("INSERT INTO t SELECT * FROM a.s JOIN b ON true;").statements
    assert statement.tree is not None
    assert Counter(statement.tree.range_var_names() or ()) == Counter([("a", "s"), (None, "b")])


_NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
).map(lambda name: name[:63])


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.tuples(st.none() | _NAMES, _NAMES), min_size=1, max_size=4))
def test_generated_names_read_as_the_walk_finds_them(
    names: list[tuple[str | None, str]],
) -> None:
    tables = [
        quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"
        for schema, name in names
    ]
    sql = f"INSERT INTO target SELECT * FROM {', '.join(tables)};"
    statements = parse_statements(sql)
    if statements is None:  # a name PostgreSQL refuses (its bytes are not valid)
        return
    ((_, _, tree),) = statements
    assert _read(tree) == _walked(tree)


def test_every_statement_of_the_corpora() -> None:
    files = sorted(CORPORA.rglob("*.sql"))
    assert files, f"the shared corpora are not at {CORPORA}"
    compared = 0
    for path in files:
        statements = parse_statements(path.read_text(encoding="utf-8", errors="replace"))
        for _, _, tree in statements or ():
            assert _read(tree) == _walked(tree), path
            compared += 1
    assert compared > 10_000
