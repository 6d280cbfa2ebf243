"""The replay names a serial (or identity) column's sequence when the column is created,
as PostgreSQL does (``ChooseRelationName``: ``t_c_seq``, cut to 63 bytes, numbered on a
clash), and keeps the name through renames of the table and the column and through a
type change (brief item 3): the planner composed ``<table>_<column>_seq`` from the
current names, and a serial key widened earlier lost its sequence in the facts, so a
rename's contract left the new column without its default."""

from __future__ import annotations

from migrator.plan.catalog_facts import CatalogFacts
from migrator.sql.catalog import Catalog
from migrator.sql.parse import parse_text
from tests.plan.scenario import execute, fetch, run

LONG = "t" * 60

HISTORY = f"""
CREATE TABLE a (id serial PRIMARY KEY, n int);
ALTER TABLE a RENAME TO r2;
ALTER TABLE r2 RENAME COLUMN id TO k;
CREATE TABLE b_id_seq (x int);
CREATE TABLE b (id bigserial, m smallserial, i int GENERATED ALWAYS AS IDENTITY);
CREATE TABLE {LONG} (id serial);
CREATE TABLE w (id serial);
ALTER TABLE w ALTER COLUMN id TYPE bigint;
ALTER TABLE w ADD COLUMN s serial;
CREATE SEQUENCE c_id_seq;
CREATE TABLE c (id serial);
CREATE SEQUENCE d_id_sq;
ALTER SEQUENCE d_id_sq RENAME TO d_id_seq;
CREATE TABLE d (id serial);
CREATE TABLE e (id serial);
DROP TABLE e;
CREATE TABLE e (id serial);
CREATE TABLE g (id int);
CREATE SEQUENCE g_id_seq OWNED BY g.id;
DROP TABLE g;
CREATE TABLE g (id serial);
CREATE SCHEMA o;
CREATE SEQUENCE o.k_id_seq;
ALTER SEQUENCE o.k_id_seq SET SCHEMA public;
CREATE TABLE k (id serial);
CREATE SEQUENCE m_id_seq;
DROP SEQUENCE m_id_seq;
CREATE TABLE m (id serial);
"""

#: (table, column) -> the sequence PostgreSQL gives it
COLUMNS = [
    *[("r2", "k"), ("b", "id"), ("b", "m"), ("b", "i"), (LONG, "id"), ("w", "id"), ("w", "s")],
    # a CREATE SEQUENCE of the name takes it (numbered); one dropped, or dropped with
    # the table that owns it, does not
    *[("c", "id"), ("d", "id"), ("e", "id"), ("g", "id"), ("k", "id"), ("m", "id")],
]


def _replayed() -> CatalogFacts:
    catalog = Catalog()
    catalog.begin_file("0001.up")
    for statement in parse_text(HISTORY) or ():
        catalog.apply(statement.kind, statement.fields)
    return CatalogFacts(catalog)


def _sequence(facts: CatalogFacts, table: str, column: str) -> str | None:
    found = facts.catalog.table(table)
    assert found is not None
    named = found.column(column)
    assert named is not None
    return named.sequence


def test_the_replayed_sequence_names_are_the_servers(database_url: str) -> None:
    facts = _replayed()
    run(execute(database_url, HISTORY))
    for table, column in COLUMNS:
        rows = run(fetch(database_url, f"SELECT pg_get_serial_sequence('{table}', '{column}')"))
        assert rows == [(f"public.{_sequence(facts, table, column)}",)], (table, column)


def test_the_facts_name_the_first_sequence_after_renames_and_a_type_change() -> None:
    facts = _replayed()

    renamed = facts.table(None, "r2")
    assert renamed is not None and renamed.columns["k"].owned_sequence == "a_id_seq"
    assert renamed.columns["k"].default_sql == "nextval('a_id_seq'::regclass)"
    widened = facts.table(None, "w")
    assert widened is not None
    assert widened.columns["id"].owned_sequence == "w_id_seq"
    assert widened.columns["id"].type_sql == "bigint"
    clashing = facts.table(None, "b")
    assert clashing is not None and clashing.columns["id"].owned_sequence == "b_id_seq1"
    assert clashing.columns["i"].owned_sequence is None  # identity: read at run time
    long = facts.table(None, LONG)
    assert long is not None
    assert long.columns["id"].owned_sequence == LONG[: 63 - len("_id_seq")] + "_id_seq"
