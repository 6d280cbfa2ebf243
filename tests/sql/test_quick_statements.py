"""Which statements add no time to a lock the transaction holds (quick_statements): a
``SELECT`` that reads a table by one index probe, a sequence-only ``ALTER SEQUENCE``."""

from __future__ import annotations

import pytest

from migrator.sql.catalog import Catalog, QualifiedName
from migrator.sql.parse import parse_text
from migrator.sql.quick_statements import adds_no_time, quick_reads

SCHEMA = """
CREATE TABLE t (id integer PRIMARY KEY, code text, rank int, note text, at timestamptz);
CREATE INDEX t_rank_code_idx ON t (rank, code);
CREATE INDEX t_note_idx ON t (note) WHERE note IS NOT NULL;
CREATE INDEX t_at_idx ON t USING hash (at);
CREATE TABLE u (id bigint PRIMARY KEY);
CREATE VIEW v AS SELECT id FROM t;
CREATE SEQUENCE older_seq;
"""

T = QualifiedName("public", "t")
U = QualifiedName("public", "u")


def _catalog(*changes: str) -> Catalog:
    catalog = Catalog()
    catalog.begin_file("0001.up")
    for statement in parse_text(SCHEMA) or ():
        catalog.apply(statement.kind, statement.fields)
    catalog.begin_file("0002.up")
    for sql in changes:
        for statement in parse_text(sql) or ():
            catalog.apply(statement.kind, statement.fields)
    return catalog


def _reads(sql: str, catalog: Catalog | None = None) -> frozenset[QualifiedName] | None:
    (statement,) = parse_text(sql) or ()
    return quick_reads(statement.kind, statement.fields, catalog or _catalog())


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT setval('s', COALESCE(MAX(id), 1)) FROM t", {T}),
        ("SELECT setval('s', max(t.id) + 1, false) FROM public.t", {T}),
        ("SELECT pg_catalog.setval(pg_get_serial_sequence('t', 'id'), max(id)) FROM t", {T}),
        ("SELECT setval('s', (SELECT max(id) FROM t))", {T}),
        ("SELECT setval('s', GREATEST((SELECT max(id) FROM t), (SELECT min(id) FROM u)))", {T, U}),
        ("SELECT max(rank)::bigint FROM t", {T}),
        ("SELECT max(id) FROM t WHERE id > 10 AND id IS NOT NULL", {T}),
        ("SELECT min(id), max(id) FROM t", {T}),
        ("SELECT setval('s', 42)", set()),
        ("SELECT nextval('s')", set()),
    ],
)
def test_reads_by_one_index_probe_or_none_are_quick(sql: str, read: set[QualifiedName]) -> None:
    assert _reads(sql) == read


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT setval('s', 1) FROM t",  # one row per row: a scan
        "SELECT max(id) FROM t WHERE code = 'x'",  # the probe cannot skip other rows
        "SELECT min(id), max(rank) FROM t WHERE id > 3",
        "SELECT max(code) FROM t",  # second column of an index
        "SELECT max(note) FROM t",  # a partial index
        "SELECT max(at) FROM t",  # a hash index
        "SELECT max(id) FROM v",  # a view
        "SELECT max(id) FROM missing",
        "SELECT count(*) FROM t",
        "SELECT max(id + 0) FROM t",
        "SELECT max(DISTINCT id) FROM t",
        "SELECT max(id) FROM t GROUP BY rank",
        "SELECT max(id) FROM t ORDER BY 1",
        "SELECT max(id) FROM t LIMIT 1",
        "SELECT max(t.id) FROM t, u",
        "SELECT max(id) FROM t JOIN u USING (id)",
        "SELECT max(id) FROM t FOR UPDATE",
        "SELECT max(id) INTO copy FROM t",
        "WITH x AS (SELECT 1) SELECT max(id) FROM t",
        "SELECT max(id) FROM t UNION SELECT 1",
        "SELECT my_function(max(id)) FROM t",
        "SELECT setval('s', (SELECT max(code) FROM t))",
        "SELECT setval('s', (SELECT id FROM t WHERE code = 'x'))",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM t)",
        "SELECT pg_sleep(10)",
    ],
)
def test_what_may_scan_call_unknown_code_or_write_is_not_quick(sql: str) -> None:
    assert _reads(sql) is None


def test_owned_by_is_quick_for_a_sequence_of_the_same_transaction_only() -> None:
    catalog = _catalog("CREATE SEQUENCE t_id_seq AS integer")
    assert _reads("ALTER SEQUENCE t_id_seq OWNED BY t.id", catalog) == {T}
    assert _reads("ALTER SEQUENCE t_id_seq OWNED BY public.t.id", catalog) == {T}
    # another option changes what nextval returns: not the quick kind
    assert _reads("ALTER SEQUENCE t_id_seq RESTART WITH 5", catalog) is None
    assert _reads("ALTER SEQUENCE t_id_seq OWNED BY t.id INCREMENT 2", catalog) is None
    # a sequence older than the transaction: waits for whoever called nextval on it
    assert _reads("ALTER SEQUENCE older_seq OWNED BY t.id", catalog) is None
    catalog.begin_transaction()
    assert _reads("ALTER SEQUENCE t_id_seq OWNED BY t.id", catalog) is None
    assert _reads("ALTER SEQUENCE unknown_seq OWNED BY t.id", catalog) is None


def test_a_quick_statement_adds_no_time_only_on_held_or_new_tables() -> None:
    catalog = _catalog("CREATE TABLE fresh (id int PRIMARY KEY)")
    quick = parse_text("SELECT setval('s', max(id)) FROM t")[0]  # type: ignore[index]
    fresh = parse_text("SELECT setval('s', max(id)) FROM fresh")[0]  # type: ignore[index]
    scan = parse_text("SELECT setval('s', max(code)) FROM t")[0]  # type: ignore[index]
    assert adds_no_time(quick.kind, quick.fields, catalog, {T})
    assert not adds_no_time(quick.kind, quick.fields, catalog, {U})  # waits for t's lock
    assert adds_no_time(fresh.kind, fresh.fields, catalog, set())
    assert not adds_no_time(scan.kind, scan.fields, catalog, {T})
