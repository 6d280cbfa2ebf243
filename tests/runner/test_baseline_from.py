"""``migrate baseline --from TOOL`` on databases other tools migrated, then ``up``.

dbmate is installable here (npm, as bench/install_peers.sh does), so its test runs the
real dbmate first. For the other tools, the history table is created with the DDL the
tool itself runs (from its sources) and filled with the rows it writes, next to the
schema those migrations built.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from migrator.db.foreign_history import flyway_version_key, interpret
from migrator.runner.adopt import flyway_checksum
from tests.runner.conftest import Project

#: three migrations; a tool applied the first two (tables a and b exist)
THREE = {
    "001_create_a.up.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
    "001_create_a.down.sql": "DROP TABLE a;\n",
    "002_create_b.up.sql": "CREATE TABLE b (id int PRIMARY KEY);\n",
    "002_create_b.down.sql": "DROP TABLE b;\n",
    "003_create_c.up.sql": "CREATE TABLE c (id int PRIMARY KEY);\n",
    "003_create_c.down.sql": "DROP TABLE c;\n",
}

#: the DDL each tool runs to create its history table (PostgreSQL drivers)
GOLANG_MIGRATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, "
    "dirty boolean not null)"
)
GOOSE_TABLE = (
    "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, "
    "is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id))"
)
FLYWAY_TABLE = """
CREATE TABLE flyway_schema_history (
    installed_rank INT NOT NULL,
    version VARCHAR(50),
    description VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL,
    script VARCHAR(1000) NOT NULL,
    checksum INTEGER,
    installed_by VARCHAR(100) NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT now(),
    execution_time INTEGER NOT NULL,
    success BOOLEAN NOT NULL,
    CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank)
);
CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success);
"""
DIESEL_TABLE = (
    "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY "
    "NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)
SQLX_TABLE = """
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)
"""


def _as_if_applied(project: Project, *versions: int) -> None:
    """Build the schema the tool's runs of ``versions`` built."""
    for version in versions:
        project.query(f"CREATE TABLE {'abc'[version - 1]} (id int PRIMARY KEY)")


def _adopted_then_up(project: Project, tool: str, adopted: int) -> str:
    """``baseline --from tool`` adopts the first ``adopted`` of the three migrations;
    ``up`` runs exactly the rest, in order."""
    result = project.migrate("baseline", "--from", tool)
    assert result.code == 0, result.output
    assert [action for _, action in project.history()] == ["baseline"] * adopted
    up = project.migrate("up")
    assert up.code == 0, up.output
    history = project.history()
    assert [action for _, action in history] == ["baseline"] * adopted + ["up"] * (3 - adopted)
    versions = [version for version, _ in history]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert {"a", "b", "c"} <= project.tables()
    return result.stdout


# -- dbmate, the real one --------------------------------------------------------------


def _dbmate() -> Path:
    """The dbmate binary bench/install_peers.sh installs; installed the same way (npm)
    when it is missing."""
    tools = Path(__file__).resolve().parents[2] / "bench" / ".tools"
    binary = tools / "node_modules" / ".bin" / "dbmate"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("dbmate is not installed and npm is not available to install it")
        installed = subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(tools),
             "dbmate"],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if installed.returncode != 0 or not binary.exists():
            pytest.skip(f"npm could not install dbmate: {installed.stderr.strip()[-300:]}")
    return binary


def _dbmate_file(version: int, table: str) -> str:
    return (
        f"-- migrate:up\nCREATE TABLE {table} (id int PRIMARY KEY);\n\n"
        f"-- migrate:down\nDROP TABLE {table};\n"
    )


def test_dbmate_history_is_adopted_and_up_runs_the_rest(project: Project) -> None:
    # one directory in dbmate's layout, migrated by the real dbmate first
    project.write(
        {"001_create_a.sql": _dbmate_file(1, "a"), "002_create_b.sql": _dbmate_file(2, "b")}
    )
    ran = subprocess.run(
        [str(_dbmate()), "--url", f"{project.database_url}?sslmode=disable",
         "--migrations-dir", str(project.directory), "--no-dump-schema", "up"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert project.query("SELECT version FROM schema_migrations ORDER BY 1") == [("001",), ("002",)]
    project.write({"003_create_c.sql": _dbmate_file(3, "c")})

    out = _adopted_then_up(project, "dbmate", 2)

    assert "adopted 001_create_a (applied by dbmate; recorded, not run)" in out
    assert "pending: 003_create_c (dbmate never applied it; `migrate up` will)" in out
    # dbmate's table is left exactly as dbmate wrote it
    assert project.query("SELECT version FROM schema_migrations ORDER BY 1") == [("001",), ("002",)]


# -- golang-migrate ----------------------------------------------------------------------


def test_golang_migrate_version_means_everything_up_to_it(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1, 2)
    project.query(GOLANG_MIGRATE_TABLE)
    project.query("INSERT INTO schema_migrations (version, dirty) VALUES (2, false)")

    _adopted_then_up(project, "golang-migrate", 2)

    assert project.query("SELECT version, dirty FROM schema_migrations") == [(2, False)]


def test_dirty_golang_migrate_history_is_refused(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1, 2)
    project.query(GOLANG_MIGRATE_TABLE)
    project.query("INSERT INTO schema_migrations (version, dirty) VALUES (2, true)")

    result = project.migrate("baseline", "--from", "golang-migrate")

    assert result.code == 4, result.output
    assert "is dirty at version 2" in result.stderr
    assert "`migrate force V` with golang-migrate" in result.stderr
    assert "Traceback" not in result.output
    assert "migrator_ledger" not in project.tables()


def test_dbmate_table_is_not_golang_migrates(project: Project) -> None:
    project.write(THREE)
    project.query(GOLANG_MIGRATE_TABLE)

    result = project.migrate("baseline", "--from", "dbmate")

    assert result.code == 2, result.output
    assert "it is golang-migrate's table, not dbmate's" in result.stderr
    assert "use --from golang-migrate" in result.stderr


def test_missing_history_table_is_a_clear_error(project: Project) -> None:
    project.write(THREE)

    result = project.migrate("baseline", "--from", "goose")

    assert result.code == 2, result.output
    assert "no table goose_db_version in this database" in result.stderr
    assert "migrator_ledger" not in project.tables()


# -- goose ---------------------------------------------------------------------------------


def test_goose_newest_row_per_version_wins(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1, 2)
    project.query(GOOSE_TABLE)
    # goose's first row (version 0), then 1, 2, 3 applied and 3 rolled back
    project.query(
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES "
        "(0, true), (1, true), (2, true), (3, true), (3, false)"
    )

    _adopted_then_up(project, "goose", 2)


# -- Flyway --------------------------------------------------------------------------------


def _flyway_row(
    rank: int, version: str | None, kind: str, success: bool, checksum: int, what: str = "create"
) -> str:
    description = what
    script = f"V{version}__{what}.sql" if version else f"R__{what}.sql"
    literal = "NULL" if version is None else f"'{version}'"
    return (
        f"({rank}, {literal}, '{description}', '{kind}', '{script}', {checksum}, 'flyway', 5, "
        f"{str(success).lower()})"
    )


def _flyway_history(project: Project, *rows: str) -> None:
    project.query(FLYWAY_TABLE)
    project.query(
        "INSERT INTO flyway_schema_history (installed_rank, version, description, type, "
        "script, checksum, installed_by, execution_time, success) VALUES " + ", ".join(rows)
    )


FLYWAY_FILES = {
    "V1__create_a.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
    "V1_1__create_b.sql": "CREATE TABLE b (id int PRIMARY KEY);\n",
    "V1_10__create_c.sql": "CREATE TABLE c (id int PRIMARY KEY);\n",
    "R__ab_view.sql": "CREATE OR REPLACE VIEW ab AS SELECT a.id FROM a JOIN b USING (id);\n",
    "R__a_count.sql": "CREATE OR REPLACE VIEW a_count AS SELECT count(*) FROM a;\n",
}


def test_flyway_history_with_checksums_and_repeatables(project: Project) -> None:
    project.write(FLYWAY_FILES)
    _as_if_applied(project, 1, 2)
    project.query(FLYWAY_FILES["R__ab_view.sql"] + FLYWAY_FILES["R__a_count.sql"])
    checksum = {name: flyway_checksum(text) for name, text in FLYWAY_FILES.items()}
    _flyway_history(
        project,
        _flyway_row(1, "1", "SQL", True, checksum["V1__create_a.sql"]),
        _flyway_row(2, "1.1", "SQL", True, 12345),  # the file changed since Flyway ran it
        _flyway_row(3, None, "SQL", True, checksum["R__ab_view.sql"], "ab view"),
        _flyway_row(4, None, "SQL", True, 777, "a count"),  # changed since: runs again
        _flyway_row(5, None, "SQL", True, 1, "gone"),
    )

    result = project.migrate("baseline", "--from", "flyway")

    assert result.code == 0, result.output
    out = result.stdout
    assert "adopted 1_create_a" in out and "adopted 1_1_create_b" in out
    assert "adopted R__ab_view" in out
    assert "note: V1_1__create_b.sql differs from the file flyway ran as version 1.1" in out
    assert "V1__create_a.sql differs" not in out
    assert "note: R__a_count.sql changed since flyway last ran it: not adopted" in out
    assert "not adopted: flyway applied repeatable 'gone', which no file here has" in out
    up = project.migrate("up")
    assert up.code == 0, up.output
    # exactly the rest: V1_10 (1.10 > 1.1), then the changed repeatable
    assert [
        line.split(" (")[0] for line in up.stderr.splitlines() if line.startswith("applied")
    ] == [
        "applied 1_10_create_c",
        "applied R__a_count",
    ]


def test_flyway_baseline_row_counts_every_version_below(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1, 2)
    _flyway_history(project, _flyway_row(1, "2", "BASELINE", True, 0))

    _adopted_then_up(project, "flyway", 2)


def test_failed_flyway_row_is_refused(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1, 2)
    _flyway_history(
        project,
        _flyway_row(1, "1", "SQL", True, 0),
        _flyway_row(2, "2", "SQL", False, 0),
    )

    result = project.migrate("baseline", "--from", "flyway")

    assert result.code == 4, result.output
    assert "says V2 (create, installed_rank 2) failed (success = false)" in result.stderr
    assert "`flyway repair`" in result.stderr
    assert "migrator_ledger" not in project.tables()


# -- diesel --------------------------------------------------------------------------------


def test_diesel_history_in_its_own_layout(project: Project) -> None:
    for folder, table in (("2020-12-7-190800_create_a", "a"), ("2021-01-01-000000_create_b", "b"),
                          ("2023-05-23-1715-create-c", "c")):  # fmt: skip
        (project.directory / folder).mkdir()
        (project.directory / folder / "up.sql").write_text(f"CREATE TABLE {table} (id int);\n")
        (project.directory / folder / "down.sql").write_text(f"DROP TABLE {table};\n")
    _as_if_applied(project, 1, 2)
    project.query(DIESEL_TABLE)
    # diesel records the folder name up to its first "_", without "-"
    project.query(
        "INSERT INTO __diesel_schema_migrations (version) VALUES "
        "('00000000000000'), ('2020127190800'), ('20210101000000')"
    )

    out = _adopted_then_up(project, "diesel", 2)

    # diesel's own setup migration has no folder in this directory
    assert "not adopted: diesel applied version 00000000000000, which no file here has" in out


# -- sqlx ----------------------------------------------------------------------------------


def _sqlx_row(version: int, success: bool, sql: str) -> str:
    digest = hashlib.sha384(sql.encode()).hexdigest()
    return f"({version}, 'create', {str(success).lower()}, decode('{digest}', 'hex'), 1000)"


def _sqlx_history(project: Project, *rows: str) -> None:
    project.query(SQLX_TABLE)
    project.query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, "
        "execution_time) VALUES " + ", ".join(rows)
    )


def test_sqlx_history_is_adopted(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1, 2)
    _sqlx_history(
        project,
        _sqlx_row(1, True, THREE["001_create_a.up.sql"]),
        _sqlx_row(2, True, THREE["002_create_b.up.sql"]),
    )

    out = _adopted_then_up(project, "sqlx", 2)

    assert "differs" not in out


def test_sqlx_unfinished_row_is_refused(project: Project) -> None:
    project.write(THREE)
    _as_if_applied(project, 1)
    _sqlx_history(
        project,
        _sqlx_row(1, True, THREE["001_create_a.up.sql"]),
        _sqlx_row(2, False, THREE["002_create_b.up.sql"]),
    )

    result = project.migrate("baseline", "--from", "sqlx")

    assert result.code == 4, result.output
    assert "says version 2 (create) did not finish" in result.stderr
    assert "DELETE FROM public._sqlx_migrations WHERE version = 2" in result.stderr
    assert "migrator_ledger" not in project.tables()


def test_baseline_needs_a_version_or_a_tool(project: Project) -> None:
    project.write(THREE)

    neither = project.migrate("baseline")
    both = project.migrate("baseline", "2", "--from", "dbmate")

    assert neither.code == both.code == 2
    assert "give either VERSION or --from TOOL" in neither.stderr + both.stderr


# -- pure: how the tools' rows and versions are read -------------------------------------


def test_goose_rows_newest_per_version() -> None:
    rows = [
        {"id": 1, "version_id": 0, "is_applied": True},
        {"id": 2, "version_id": 5, "is_applied": True},
        {"id": 3, "version_id": 5, "is_applied": False},
        {"id": 4, "version_id": 5, "is_applied": True},
        {"id": 5, "version_id": 7, "is_applied": True},
        {"id": 6, "version_id": 7, "is_applied": False},
    ]

    history = interpret("goose", "public.goose_db_version", rows)

    assert [v.version for v in history.applied] == ["5"]


def test_flyway_undo_takes_a_version_back() -> None:
    def row(rank: int, version: str, kind: str) -> dict[str, object]:
        return {"installed_rank": rank, "version": version, "description": "d",
                "type": kind, "checksum": 1, "success": True}  # fmt: skip

    history = interpret(
        "flyway",
        "public.flyway_schema_history",
        [row(0, "0", "SCHEMA"), row(1, "1", "SQL"), row(2, "1.1", "SQL"),
         row(3, "1.1", "UNDO_SQL"), row(4, "1_10", "SQL")],
    )  # fmt: skip

    assert [v.version for v in history.applied] == ["1", "1_10"]


@pytest.mark.parametrize(
    ("smaller", "larger"), [("1_2", "1_10"), ("1.9", "2"), ("17", "17.1"), ("1", "1.0.1")]
)
def test_flyway_versions_compare_part_by_part(smaller: str, larger: str) -> None:
    assert flyway_version_key(smaller) < flyway_version_key(larger)
    assert flyway_version_key("1.0") == flyway_version_key("1") == flyway_version_key("1_0_0")


def test_flyway_checksum_ignores_line_breaks_and_bom() -> None:
    text = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n"
    unsigned = zlib.crc32(b"CREATE TABLE a (id int);INSERT INTO a VALUES (1);")
    signed = unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned

    assert flyway_checksum(text) == signed
    assert flyway_checksum(text.replace("\n", "\r\n")) == flyway_checksum(text)
    assert flyway_checksum("\ufeff" + text) == flyway_checksum(text)
    assert -(1 << 31) <= flyway_checksum(text) < 1 << 31
