"""The down of a statement passed through as written: derived from what it creates,
or none when the statement alone cannot tell what to undo."""

from __future__ import annotations

import pytest

from migrator.plan.recipes.inverse import derived_down
from migrator.plan.sql_text import parse_statement


@pytest.mark.parametrize(
    ("statement", "down"),
    [
        ("CREATE TABLE app.tags (id int)", "DROP TABLE IF EXISTS app.tags"),
        ('CREATE TABLE "Tags" (id int)', 'DROP TABLE IF EXISTS "Tags"'),
        ("CREATE SEQUENCE s1", "DROP SEQUENCE IF EXISTS s1"),
        ("CREATE VIEW v AS SELECT 1", "DROP VIEW IF EXISTS v"),
        ("CREATE MATERIALIZED VIEW mv AS SELECT 1", "DROP MATERIALIZED VIEW IF EXISTS mv"),
        ("CREATE TABLE t2 AS SELECT 1 AS a", "DROP TABLE IF EXISTS t2"),
        ("CREATE TYPE e AS ENUM ('a')", "DROP TYPE IF EXISTS e"),
        ("CREATE TYPE c AS (a int)", "DROP TYPE IF EXISTS c"),
        ("CREATE DOMAIN d AS int", "DROP DOMAIN IF EXISTS d"),
        ("CREATE SCHEMA s", "DROP SCHEMA IF EXISTS s"),
        ("CREATE EXTENSION pgcrypto", "DROP EXTENSION IF EXISTS pgcrypto"),
        (
            "CREATE FUNCTION f(a int, OUT b text, VARIADIC c int[]) RETURNS text "
            "LANGUAGE sql AS 'select 1'",
            "DROP FUNCTION IF EXISTS f(integer, integer[])",
        ),
        ("CREATE PROCEDURE p() LANGUAGE sql AS 'select 1'", "DROP PROCEDURE IF EXISTS p()"),
        (
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "DROP TRIGGER IF EXISTS tr ON t",
        ),
    ],
)
def test_a_create_is_undone_by_its_drop(statement: str, down: str) -> None:
    assert derived_down(parse_statement(statement)) == (down,)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE IF NOT EXISTS t (id int)",
        "CREATE OR REPLACE VIEW v AS SELECT 1",
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto",
        "COMMENT ON TABLE t IS 'x'",
        "GRANT SELECT ON t TO PUBLIC",
        "UPDATE t SET a = 1",
    ],
)
def test_no_down_when_the_statement_cannot_tell_what_to_undo(statement: str) -> None:
    assert derived_down(parse_statement(statement)) is None
