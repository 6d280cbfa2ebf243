"""The generic filler of bench/plan_histories.py: its values fit their columns, its
order puts a referenced table first, and on a real server it fills what it can and
counts what it cannot."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.row_filler import Column, ForeignKey, Table, fill, fill_order, insert_sql, literal


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=9))
def test_a_string_fits_its_length(length: int, k: int) -> None:
    column = Column(
        "a_rather_long_column_name",
        f"character varying({length})",
        "S",
        max_length=length,
        base="varchar",
    )
    value = literal(column, k)
    assert value is not None
    text = value.split("'")[1]
    assert 0 < len(text) <= length


def test_an_enum_cycles_through_its_labels_and_an_array_is_empty() -> None:
    mood = Column("m", "mood", "E", labels=("sad", "o'k"))
    assert [literal(mood, k) for k in (1, 2, 3)] == ["'sad'::mood", "'o''k'::mood", "'sad'::mood"]
    assert literal(Column("tags", "text[]", "A", is_array=True), 2) == "'{}'::text[]"
    assert literal(Column("x", "mystery", "X"), 1) is None


def test_a_row_leaves_defaults_and_generated_columns_to_the_database() -> None:
    table = Table(
        "post",
        [
            Column("id", "integer", "N", not_null=True, has_default=True),
            Column("made", "bigint", "N", automatic=True),
            Column("person_id", "integer", "N", not_null=True),
            Column("note", "text", "S"),
        ],
        [ForeignKey(("person_id",), "public.person", "person", ("id",))],
    )
    full = insert_sql(table, 2)
    assert full.startswith("INSERT INTO public.post (person_id, note) VALUES ((SELECT id ")
    assert "OFFSET 1)" in full and "'note_2'::text" in full
    minimal = insert_sql(table, 2, minimal=True)
    assert "note" not in minimal and "OFFSET 0)" in minimal


@given(st.permutations(["a", "b", "c", "d"]))
def test_referenced_tables_come_first_whatever_the_order(names: list[str]) -> None:
    def key(to: str) -> ForeignKey:
        return ForeignKey(("x",), f"public.{to}", to, ("id",))

    # d -> c -> b -> a, a -> a (self), and a cycle b <-> e
    refs = {"a": ["a"], "b": ["a", "e"], "c": ["b"], "d": ["c"], "e": ["b"]}
    tables = [Table(n, [], [key(r) for r in refs[n]]) for n in [*names, "e"]]
    order = [t.name for t in fill_order(tables)]
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    assert order.index("a") < order.index("b") < order.index("c") < order.index("d")


SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN short AS varchar(4) CHECK (VALUE <> '');
CREATE TABLE person (id serial PRIMARY KEY, name text NOT NULL UNIQUE, mood mood,
                     born date, at timestamptz, ok boolean NOT NULL, tags text[],
                     data jsonb, uid uuid, code short, ip inet, span interval);
CREATE TABLE post (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                   person_id int NOT NULL REFERENCES person, parent_id bigint REFERENCES post,
                   score numeric(6, 2) CHECK (score < 100), title varchar(3));
CREATE TABLE impossible (id int PRIMARY KEY CHECK (id < 0));
"""


@pytest.mark.usefixtures("pg_server")
def test_a_real_schema_gets_rows_and_what_it_cannot_fill_is_counted(database_url: str) -> None:
    async def go() -> tuple[list[str], dict[str, int]]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(SCHEMA)
            filled = await fill(conn)
            counts = {
                t: await conn.fetchval(f"SELECT count(*) FROM {t}")
                for t in ("person", "post", "impossible")
            }
            return filled.empty, counts
        finally:
            await conn.close()

    empty, counts = asyncio.run(go())
    assert empty == ["impossible"]
    assert counts == {"person": 3, "post": 3, "impossible": 0}
