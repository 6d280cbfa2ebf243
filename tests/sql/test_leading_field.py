"""StatementTree.leading_field: one field decoded, the same value a full decode gives."""

from __future__ import annotations

from migrator.sql.parse import StatementTree, parse_statements


def _trees(sql: str) -> list[StatementTree]:
    statements = parse_statements(sql)
    assert statements is not None
    return [tree for _, _, tree in statements]


def test_relation_of_update_and_delete_alone() -> None:
    sql = (
        "WITH x AS (SELECT 1) UPDATE app.users SET name = 'a' WHERE id IN (SELECT * FROM x);\n"
        "DELETE FROM orders USING users WHERE orders.user_id = users.id;\n"
    )
    for tree in _trees(sql):
        head = tree.leading_field("relation")
        assert head == {"relation": tree.fields()["relation"]}
        assert set(head) == {"relation"}


def test_none_when_the_field_is_not_first() -> None:
    (tree,) = _trees("UPDATE users SET name = 'a';")
    assert tree.leading_field("targetList") is None
    (create,) = _trees("CREATE TABLE t (id int);")
    assert create.leading_field("tableElts") is None
