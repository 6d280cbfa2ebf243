"""The catalog model: replaying statements builds the schema the linter and planner see."""

from __future__ import annotations

from migrator.sql.catalog import Catalog, QualifiedName
from migrator.sql.parse import parse_text


def replay(*files: str) -> Catalog:
    catalog = Catalog()
    for number, sql in enumerate(files, start=1):
        catalog.begin_file(f"{number:04d}.up")
        for statement in parse_text(sql) or ():
            catalog.apply(statement.kind, statement.fields)
    return catalog


def test_create_table_records_columns_keys_and_indexes() -> None:
    catalog = replay(
        """
        CREATE TABLE users (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            email varchar(255) NOT NULL UNIQUE,
            name text DEFAULT 'x',
            org_id int REFERENCES orgs (id),
            CONSTRAINT name_present CHECK (name IS NOT NULL)
        );
        CREATE INDEX users_org_idx ON users (org_id);
        """
    )
    users = catalog.table("public.users")
    assert users is not None
    assert [c.name for c in users.columns] == ["id", "email", "name", "org_id"]
    email = users.column("email")
    assert email is not None and email.not_null and email.type.sql == "varchar(255)"
    assert users.column("name").default_sql == "'x'"  # type: ignore[union-attr]
    assert users.primary_key is not None and users.primary_key.columns == ("id",)
    assert users.unique_keys == (("id",), ("email",))
    assert [i.name.name for i in users.indexes_covering("org_id")] == ["users_org_idx"]
    fk = users.foreign_keys[0]
    assert fk.references == QualifiedName("public", "orgs") and fk.columns == ("org_id",)
    check = users.constraint("name_present")
    assert check is not None and check.proves_not_null == ("name",)
    assert "CHECK (name IS NOT NULL)" in check.definition
    index = catalog.index("users_org_idx")
    assert index is not None and index.definition.startswith("CREATE INDEX users_org_idx")


def test_objects_of_the_current_file_are_new_and_earlier_ones_are_not() -> None:
    catalog = replay("CREATE TABLE a (id int)", "CREATE TABLE b (id int)")
    assert catalog.is_new(catalog.table("b"))  # type: ignore[arg-type]
    assert not catalog.is_new(catalog.table("a"))  # type: ignore[arg-type]


def test_names_resolve_by_schema_quoting_and_search_path() -> None:
    catalog = replay(
        'CREATE SCHEMA app; CREATE TABLE app.t (id int); CREATE TABLE "T" (id int);'
        "SET search_path TO app, public; CREATE TABLE u (id int);"
    )
    assert catalog.table("app.t") is not None
    assert catalog.table("public.t") is None
    assert catalog.table('public."T"') is not None
    assert catalog.table("t") == catalog.table("app.t")  # search_path is app, public
    assert catalog.table("app.u") is not None
    catalog.begin_file("next")  # search_path resets for every file
    assert catalog.resolve(None, "u") == QualifiedName("public", "u")


def test_not_valid_constraints_become_valid_when_validated() -> None:
    catalog = replay(
        "CREATE TABLE t (c int)",
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID",
        "ALTER TABLE t VALIDATE CONSTRAINT c_nn",
    )
    constraint = catalog.table("t").constraint("c_nn")  # type: ignore[union-attr]
    assert constraint is not None and constraint.valid
    assert constraint.validated is not None and constraint.validated.unit == "0003.up"


def test_alter_rename_drop_and_type_changes() -> None:
    catalog = replay(
        "CREATE TABLE t (a varchar(10), b int NOT NULL); CREATE INDEX t_a ON t (a)",
        "ALTER TABLE t ALTER COLUMN a TYPE text, ALTER COLUMN b DROP NOT NULL;"
        "ALTER TABLE t RENAME COLUMN a TO c; ALTER TABLE t RENAME TO t2;"
        "ALTER INDEX t_a RENAME TO t2_c; ALTER TABLE t2 ADD COLUMN d int NOT NULL DEFAULT 0",
    )
    table = catalog.table("t2")
    assert table is not None and catalog.table("t") is None
    assert table.column("c").type.name == "text"  # type: ignore[union-attr]
    assert not table.column("b").not_null  # type: ignore[union-attr]
    assert catalog.index("t2_c").columns == ("c",)  # type: ignore[union-attr]
    assert table.column("d").has_default  # type: ignore[union-attr]
    catalog.apply("DropStmt", parse_text("DROP TABLE t2")[0].fields)  # type: ignore[index]
    assert catalog.table("t2") is None and catalog.index("t2_c") is None


def test_enums_partitions_and_functions() -> None:
    catalog = replay(
        "CREATE TYPE mood AS ENUM ('sad', 'ok');"
        "ALTER TYPE mood ADD VALUE 'happy' AFTER 'ok';"
        "CREATE TABLE m (id int, at date) PARTITION BY RANGE (at);"
        "CREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE AS 'select 1'"
    )
    assert catalog.enum("mood").values == ("sad", "ok", "happy")  # type: ignore[union-attr]
    assert catalog.table("m").partitioned  # type: ignore[union-attr]
    assert catalog.table("m_2026").partition_of == QualifiedName("public", "m")  # type: ignore[union-attr]
    assert catalog.function("f").volatility == "immutable"  # type: ignore[union-attr]


def test_copy_is_independent() -> None:
    catalog = replay("CREATE TABLE t (id int)")
    snapshot = catalog.copy()
    catalog.apply("DropStmt", parse_text("DROP TABLE t")[0].fields)  # type: ignore[index]
    assert snapshot.table("t") is not None and catalog.table("t") is None


def test_unknown_or_malformed_statements_change_nothing() -> None:
    catalog = replay("CREATE TABLE t (id int)")
    catalog.apply("AlterTableStmt", {"relation": {"relname": "t"}, "cmds": [{"x": 1}, None]})
    catalog.apply("NoSuchStmt", {})
    assert catalog.table("t") is not None


def test_select_into_creates_a_table_like_create_table_as() -> None:
    catalog = replay("CREATE TABLE users (id int)", "SELECT DISTINCT * INTO t4 FROM users")
    made = catalog.table("t4")
    assert made is not None and made.kind == "table" and not made.columns_known
    assert catalog.is_new(made)  # made by the file being replayed
    assert catalog.table("users") is not None and replay("SELECT 1").table("t4") is None


def test_columns_follow_a_type_rename() -> None:
    catalog = replay(
        "CREATE TYPE mood AS ENUM ('sad'); CREATE TABLE t (m mood, n text);"
        "CREATE SCHEMA other; CREATE TYPE other.mood AS ENUM ('x');"
        "CREATE TABLE u (m other.mood);",
        "ALTER TYPE mood RENAME TO mood_old; CREATE TYPE mood AS ENUM ('sad', 'ok');",
    )
    assert catalog.table("t").column("m").type.sql == "mood_old"  # type: ignore[union-attr]
    assert catalog.table("t").column("n").type.sql == "text"  # type: ignore[union-attr]
    assert catalog.table("u").column("m").type.sql == "other.mood"  # type: ignore[union-attr]


def test_current_name_follows_renames_of_the_file() -> None:
    catalog = replay(
        "CREATE TABLE a (id int); CREATE SCHEMA s;"
        "ALTER TABLE a RENAME TO b; ALTER TABLE b SET SCHEMA s; ALTER TABLE s.b RENAME TO a;"
    )
    assert catalog.current_name(QualifiedName("public", "a")) == QualifiedName("s", "a")
    catalog.begin_file("next")
    assert catalog.current_name(QualifiedName("public", "a")) == QualifiedName("public", "a")


def test_system_catalog_names_resolve_to_pg_catalog_first() -> None:
    catalog = replay("CREATE TABLE pg_index (id int); CREATE TABLE pg_jobs (id int)")
    assert catalog.resolve(None, "pg_index") == QualifiedName("pg_catalog", "pg_index")
    assert catalog.resolve(None, "pg_jobs") == QualifiedName("public", "pg_jobs")
    system = catalog.table("pg_class")
    assert system is not None and system.system and not system.columns_known
    catalog.search_path = ("public", "pg_catalog")
    assert catalog.resolve(None, "pg_index") == QualifiedName("public", "pg_index")
    assert catalog.resolve(None, "pg_class") == QualifiedName("pg_catalog", "pg_class")


def test_a_system_catalog_is_never_changed_by_the_replay() -> None:
    catalog = replay("ALTER TABLE pg_class ADD COLUMN x int; CREATE INDEX ON pg_attribute (a)")
    assert all(not table.system for table in catalog.tables())
    assert catalog.table("pg_class").column("x") is None  # type: ignore[union-attr]


def test_alter_function_is_replayed() -> None:
    catalog = replay(
        "CREATE SCHEMA util;"
        "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'select 1';"
        "ALTER FUNCTION f(int) SECURITY DEFINER SET search_path = pg_catalog;"
        "ALTER FUNCTION f(int) RENAME TO g;"
        "ALTER FUNCTION g(int) SET SCHEMA util;"
        "ALTER FUNCTION util.g(int) STABLE"
    )
    assert catalog.function("f") is None and catalog.function("g") is None
    moved = catalog.function("util.g")
    assert moved is not None and moved.volatility == "stable"
    assert moved.security_definer and moved.own_search_path
    assert catalog.current_name(QualifiedName("public", "f"), kind="function") == moved.name
    catalog.apply("AlterFunctionStmt", parse_text("ALTER FUNCTION util.g RESET ALL")[0].fields)  # type: ignore[index]
    assert not catalog.function("util.g").own_search_path  # type: ignore[union-attr]


def test_function_renamed_then_dropped_by_its_new_name() -> None:
    catalog = replay(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1';"
        "ALTER FUNCTION f() RENAME TO g; DROP FUNCTION g();"
        "CREATE SCHEMA s; CREATE PROCEDURE s.p() LANGUAGE sql AS 'select 1'; DROP SCHEMA s CASCADE"
    )
    assert catalog.function("f") is None and catalog.function("g") is None
    assert catalog.function("s.p") is None


def test_alter_of_a_function_from_before_the_migrations_is_remembered() -> None:
    catalog = replay("ALTER FUNCTION legacy() SECURITY DEFINER")
    legacy = catalog.function("legacy")
    assert legacy is not None and legacy.security_definer and legacy.volatility is None


def test_sequences_take_relation_names_until_dropped() -> None:
    catalog = replay(
        """
        CREATE SEQUENCE h_n_idx;
        CREATE TABLE h (n int, id serial);
        CREATE INDEX ON h (n);
        CREATE SEQUENCE counter START 5;
        ALTER SEQUENCE counter RENAME TO counted;
        """
    )
    h = catalog.table("h")
    assert h is not None
    assert [index.name.name for index in h.indexes] == ["h_n_idx1"]  # the sequence has it
    for name in ("h_n_idx", "h_id_seq", "counted"):
        assert catalog.relation_taken(QualifiedName("public", name)), name
    assert not catalog.relation_taken(QualifiedName("public", "counter"))
    assert catalog.sequence_origin("counted") == catalog.origin
    for statement in parse_text("DROP TABLE h") or ():
        catalog.apply(statement.kind, statement.fields)
    assert not catalog.relation_taken(QualifiedName("public", "h_id_seq"))  # went with h
    assert catalog.relation_taken(QualifiedName("public", "h_n_idx"))  # owned by nobody
