"""Names PostgreSQL makes up for indexes and constraints, as the replayed catalog (and
so the planner) computes them, against a real server: long names with multi-byte
letters are cut where PostgreSQL cuts them (round 3, P4)."""

from __future__ import annotations

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.sql.names import quote_ident
from migrator.sql.replay import default_name

#: letters of 1 to 3 bytes in UTF-8 and the underscore PostgreSQL joins names with;
#: long enough that most names are cut
NAMES = st.text(alphabet="ab_é日", min_size=12, max_size=40)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(table=NAMES, columns=st.lists(NAMES, min_size=1, max_size=3, unique=True))
def test_default_index_and_constraint_names_are_the_servers(
    database_url: str, table: str, columns: list[str]
) -> None:
    # P4: the name was cut from its end, dropping the suffix: a contract renamed its
    # copy of an index on a 79-byte table name to the table's own name (42P07, exit 4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS names CASCADE")
        conn.execute("CREATE SCHEMA names")
        quoted = ", ".join(quote_ident(column) for column in columns)
        conn.execute(
            f"CREATE TABLE names.{quote_ident(table)} "
            f"({', '.join(quote_ident(c) + ' int' for c in columns)})"
        )
        row = conn.execute(
            "SELECT c.oid, c.relname FROM pg_class c WHERE c.relnamespace = 'names'::regnamespace"
        ).fetchone()
        assert row is not None
        oid, stored = row  # identifiers over 63 bytes are cut when read
        stored_columns = [
            name
            for (name,) in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
                "ORDER BY attnum",
                (oid,),
            )
        ]
        conn.execute(f"CREATE INDEX ON names.{quote_ident(table)} ({quoted})")
        conn.execute(f"ALTER TABLE names.{quote_ident(table)} ADD PRIMARY KEY ({quoted})")
        conn.execute(
            f"ALTER TABLE names.{quote_ident(table)} ADD CHECK ({quote_ident(columns[0])} > 0)"
        )
        index = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'names'::regnamespace "
            "AND relkind = 'i' AND relname <> (SELECT conname FROM pg_constraint "
            "WHERE conrelid = %s AND contype = 'p')",
            (oid,),
        ).fetchone()
        constraints = dict(
            conn.execute(
                "SELECT contype, conname FROM pg_constraint WHERE conrelid = %s", (oid,)
            ).fetchall()
        )
    assert index is not None
    assert index[0] == default_name(stored, stored_columns, "idx")
    assert constraints["p"] == default_name(stored, [], "pkey")
    assert constraints["c"] == default_name(stored, stored_columns[:1], "check")


#: unnamed indexes and constraints whose names clash, as migrations write them
CLASHING = """
CREATE TABLE p (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE c (x int, y int, z int, w int CHECK (w > 0) CHECK (w < 100),
                FOREIGN KEY (x, y) REFERENCES p);
CREATE INDEX ON c (x);
CREATE INDEX ON c (x);
CREATE INDEX ON c (x) WHERE z > 0;
CREATE UNIQUE INDEX ON c (z);
ALTER TABLE c ADD UNIQUE (z);
ALTER TABLE c ADD UNIQUE (z);
CREATE INDEX ON c (y) INCLUDE (z);
CREATE TABLE c_x_idx3 (id int);
CREATE INDEX ON c (x);
ALTER TABLE c ADD CHECK (z > 0 AND c.z < 10);
ALTER TABLE c ADD CHECK (z > x);
ALTER TABLE c ADD CHECK (z > 1);
"""


def test_clashing_default_names_are_numbered_as_the_server_numbers_them(
    database_url: str,
) -> None:
    # P11: a second unnamed index on a column is c_x_idx1 on the server, but the replay
    # called it c_x_idx again: a plan of a change to it renamed its copy onto the other
    # index's name (42P07 in the contract, exit 4), `DROP INDEX c_x_idx1` was refused as
    # unknown; a unique index is ..._idx (not ..._key), INCLUDE columns are in the name,
    # a foreign key's name has all its columns, a table's check its one column
    from migrator.sql.catalog import Catalog
    from migrator.sql.parse import parse_text

    catalog = Catalog()
    catalog.begin_file("0001.up")
    for statement in parse_text(CLASHING) or ():
        catalog.apply(statement.kind, statement.fields)
    table = catalog.table("c")
    assert table is not None
    replayed = {index.name.name for index in table.indexes} | {c.name for c in table.constraints}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(CLASHING)
        server = {
            name
            for (name,) in conn.execute(
                "SELECT relname FROM pg_index JOIN pg_class ON pg_class.oid = indexrelid "
                "WHERE indrelid = 'c'::regclass UNION SELECT conname FROM pg_constraint "
                "WHERE conrelid = 'c'::regclass"
            )
        }
    assert replayed == server
