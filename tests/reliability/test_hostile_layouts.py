"""Other tools' layouts used as their users would, after adoption: versions are shown
as the files name them (never the internal ordering key of the ledger), in every
message a run, ``verify``, ``status`` and ``up --sql`` print."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from migrator.errors import SourceError
from migrator.source import discover
from tests.helpers import Result, run_cli

#: a key of the ledger for a Flyway or diesel version: long runs of digits
LEDGER_KEY = re.compile(r"\d{20,}")


def migrate(directory: Path, database_url: str, *args: str) -> Result:
    return run_cli("--dir", str(directory), "--database-url", database_url, *args)


def flyway(directory: Path) -> Path:
    (directory / "V1_1__init.sql").write_text("CREATE TABLE a (id int);\n")
    (directory / "V1_2__more.sql").write_text("CREATE TABLE b (id int);\n")
    (directory / "V1_10__last.sql").write_text("CREATE TABLE c (id int);\n")
    return directory


def test_flyway_versions_are_shown_as_their_files_name_them(
    migrations_dir: Path, database_url: str
) -> None:
    directory = flyway(migrations_dir)
    # a repeatable runs after the versioned ones but is no version to be "at"
    (directory / "R__view.sql").write_text("CREATE OR REPLACE VIEW v AS SELECT * FROM a;\n")
    sql = migrate(directory, database_url, "up", "--sql")
    assert sql.code == 0 and "(version 1_10)" in sql.stdout, sql.output
    applied = migrate(directory, database_url, "up")
    assert applied.code == 0 and "now at version 1_10" in applied.output, applied.output

    (directory / "V1_3__gap.sql").write_text("CREATE TABLE gap (id int);\n")
    verify = migrate(directory, database_url, "verify")
    assert verify.code == 1, verify.output
    assert "older than the newest applied version 1_10" in verify.output, verify.output
    status = migrate(directory, database_url, "status", "--format", "json")
    assert json.loads(status.stdout)["current_version_text"] == "1_10", status.output
    late = migrate(directory, database_url, "up")
    assert late.code == 0, late.output
    assert "older than the newest applied version 1_10" in late.output, late.output

    down = migrate(directory, database_url, "down")
    assert down.code == 4 and "V1_10__last.sql has no down migration" in down.output
    assert "repair --forget 1_10" in down.output, down.output
    for result in (sql, applied, verify, late, down):  # JSON also keeps the ledger key
        assert not LEDGER_KEY.search(result.output.replace(str(directory), "")), result.output


@pytest.mark.parametrize("explicit", [False, True], ids=["directory", "file-given"])
def test_lint_places_a_file_problem_at_its_file_and_line(
    migrations_dir: Path, explicit: bool
) -> None:
    """A goose file whose Down stands inside a StatementBegin block: the finding is at
    ``001_a.sql`` line 5 (not at a file called ``001_a.sql:5``, which GitHub and SARIF
    annotations would then point at)."""
    path = migrations_dir / "001_a.sql"
    path.write_text(
        "-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE t (x int);\n\n"
        "-- +goose Down\nDROP TABLE t;\n"
    )
    paths = (str(path),) if explicit else ()
    result = run_cli("--dir", str(migrations_dir), "lint", "--format", "json", *paths)
    assert result.code == 1, result.output
    [finding] = json.loads(result.stdout)
    assert finding["rule"] == "invalid-migration-file"
    assert Path(finding["file"]).name == "001_a.sql" and finding["line"] == 5, finding


def test_dbmate_files_with_windows_line_ends_are_read_as_dbmate_reads_them(
    migrations_dir: Path,
) -> None:
    """dbmate's marker regexp ``^--\\s*migrate:up(.*)$`` takes a CRLF line's ``\\r`` as
    (empty) options: the file is a migration, and ``transaction:false`` still counts."""
    (migrations_dir / "20240101000000_a.sql").write_bytes(
        b"-- migrate:up\r\nCREATE TABLE t (x int);\r\n\r\n-- migrate:down\r\nDROP TABLE t;\r\n"
    )
    (migrations_dir / "20240102000000_b.sql").write_bytes(
        b"-- migrate:up transaction:false\r\nCREATE INDEX CONCURRENTLY ti ON t (x);\r\n"
        b"-- migrate:down transaction:false\r\nDROP INDEX CONCURRENTLY ti;\r\n"
    )
    found = discover(migrations_dir)
    assert found.layout == "dbmate" and not found.problems, found.problems
    first, second = found.migrations
    assert [s.text for s in first.up.statements] == ["CREATE TABLE t (x int)"]
    assert first.down is not None and [s.text for s in first.down.statements] == ["DROP TABLE t"]
    assert first.up.transactional and not second.up.transactional
    assert second.down is not None and not second.down.transactional


@pytest.mark.parametrize(
    ("begin", "seen"),
    [
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "serializable"),
        ("BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE", "repeatable read"),
        ("BEGIN", "read committed"),
    ],
)
def test_a_wrapper_begin_keeps_its_transaction_modes(
    migrations_dir: Path, database_url: str, begin: str, seen: str
) -> None:
    """golang-migrate and psql run ``BEGIN ISOLATION LEVEL ...`` as written: the
    runner's transaction, which stands for the wrapper, takes its modes."""
    (migrations_dir / "1_a.up.sql").write_text(
        f"{begin};\nCREATE TABLE w AS SELECT current_setting('transaction_isolation') AS iso;\n"
        "COMMIT;\n"
    )
    (migrations_dir / "2_b.up.sql").write_text(
        "CREATE TABLE w2 (iso text);\nCOMMIT;\n"
        f"{begin};\nINSERT INTO w2 SELECT current_setting('transaction_isolation');\nEND;\n"
    )
    result = migrate(migrations_dir, database_url, "up")
    assert result.code == 0, result.output
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT iso FROM w UNION ALL SELECT iso FROM w2").fetchall()
    assert rows == [(seen,), (seen,)]


def test_a_read_only_wrapper_refuses_writes_as_postgresql_does(
    migrations_dir: Path, database_url: str
) -> None:
    (migrations_dir / "1_a.up.sql").write_text(
        "BEGIN READ ONLY;\nCREATE TABLE w (x int);\nCOMMIT;\n"
    )
    result = migrate(migrations_dir, database_url, "up")
    assert result.code == 4 and "read-only transaction" in result.stderr, result.output


def test_a_goose_go_migration_is_a_problem_not_silently_skipped(migrations_dir: Path) -> None:
    """goose's own CLI refuses a Go migration it was not built with ("detected 1
    unregistered Go file"); skipping it would run the later versions without it."""
    (migrations_dir / "001_a.sql").write_text("-- +goose Up\nCREATE TABLE a (x int);\n")
    (migrations_dir / "002_backfill.go").write_text("package migrations\n")
    (migrations_dir / "002_backfill_test.go").write_text("package migrations\n")
    (migrations_dir / "003_c.sql").write_text("-- +goose Up\nCREATE TABLE c (x int);\n")
    found = discover(migrations_dir)
    assert found.layout == "goose"
    [problem] = found.problems
    assert problem.startswith(f"{migrations_dir / '002_backfill.go'}: a goose Go migration")
    assert [path.name for path in found.ignored] == ["002_backfill_test.go"]


@pytest.mark.parametrize("marker", ["-- migrate:up", "-- +goose Up"])
def test_a_dbmate_or_goose_file_among_up_down_pairs_is_a_mix(
    migrations_dir: Path, marker: str
) -> None:
    """One file with a dbmate or goose marker beside migrator's pairs: the directory is
    a mix (say so), not a dbmate directory whose every pair lacks its markers."""
    (migrations_dir / "001_a.up.sql").write_text("CREATE TABLE a (x int);\n")
    (migrations_dir / "001_a.down.sql").write_text("DROP TABLE a;\n")
    (migrations_dir / "002_b.sql").write_text(f"{marker}\nCREATE TABLE b (x int);\n")
    with pytest.raises(SourceError, match="holds migrator/golang-migrate files and"):
        discover(migrations_dir)


def test_flyway_reads_sub_directories_as_flyway_scans_a_location(migrations_dir: Path) -> None:
    """Flyway scans its locations recursively (teams keep a folder per release): the
    versions in sub-directories are migrations, their ``.conf`` counts, a symlink back up
    is read once, a file linked in from outside is refused, and ``new`` numbers after the
    newest version wherever it stands."""
    (migrations_dir / "release1").mkdir()
    (migrations_dir / "release2").mkdir()
    (migrations_dir / "release1" / "V1__a.sql").write_text("CREATE TABLE a (x int);\n")
    (migrations_dir / "release2" / "V7__b.sql").write_text(
        "CREATE INDEX CONCURRENTLY i ON a (x);\n"
    )
    (migrations_dir / "release2" / "V7__b.sql.conf").write_text("executeInTransaction=false\n")
    (migrations_dir / "release2" / "up").symlink_to("..")
    (migrations_dir / "V3__c.sql").write_text("CREATE TABLE c (x int);\n")
    found = discover(migrations_dir)
    assert found.layout == "flyway" and not found.problems, found.problems
    assert [(m.shown_version, m.up.transactional) for m in found.migrations] == [
        ("1", True),
        ("3", True),
        ("7", False),
    ]
    created = run_cli("--dir", str(migrations_dir), "new", "next")
    assert created.code == 0 and (migrations_dir / "V8__next.sql").exists(), created.output

    outside = migrations_dir.parent / "outside.sql"
    outside.write_text("DROP TABLE a;\n")
    (migrations_dir / "release1" / "V9__out.sql").symlink_to(outside)
    assert any("symlink points outside" in p for p in discover(migrations_dir).problems)


def test_a_failed_flyway_migration_names_its_version_in_the_repair_hint(
    migrations_dir: Path, database_url: str
) -> None:
    (migrations_dir / "V1_10__x.sql").write_text("CREATE TABLE a (x int);\nSELECT 1/0;\n")
    (migrations_dir / "V1_10__x.sql.conf").write_text("executeInTransaction=false\n")
    failed = migrate(migrations_dir, database_url, "up")
    assert failed.code == 4 and "migrate repair 1_10 --mark-applied" in failed.stderr
    refused = migrate(migrations_dir, database_url, "up")
    assert refused.code == 4 and "migrate repair 1_10" in refused.stderr, refused.output
    assert not LEDGER_KEY.search(failed.output + refused.output), failed.output


def test_a_flyway_file_without_description_runs_and_one_without_version_is_refused(
    migrations_dir: Path, database_url: str
) -> None:
    """Flyway applies ``V3__.sql`` (an empty description) and refuses ``V__x.sql`` (no
    version): neither may be skipped silently."""
    flyway(migrations_dir)
    (migrations_dir / "V1_11__.sql").write_text("CREATE TABLE d (id int);\n")
    applied = migrate(migrations_dir, database_url, "up")
    assert applied.code == 0 and "now at version 1_11" in applied.output, applied.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('d') IS NOT NULL").fetchone() == (True,)

    (migrations_dir / "V__x.sql").write_text("CREATE TABLE e (id int);\n")
    refused = migrate(migrations_dir, database_url, "up")
    assert refused.code == 2, refused.output
    assert "V__x.sql: a Flyway migration without a version" in refused.output, refused.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('e')").fetchone() == (None,)


def test_a_flyway_file_failing_after_a_commit_point_names_its_version_in_the_hint(
    migrations_dir: Path, database_url: str
) -> None:
    (migrations_dir / "V1_10__x.sql").write_text("CREATE TABLE a (x int);\nCOMMIT;\nSELECT 1/0;\n")
    failed = migrate(migrations_dir, database_url, "up")
    assert failed.code == 4, failed.output
    assert "segment 2 of 2 rolled back" in failed.stderr
    assert "migrate repair 1_10 --mark-applied" in failed.stderr, failed.output
    unknown = migrate(migrations_dir, database_url, "repair", "1_11", "--forget")
    assert unknown.code == 2 and "version 1.11 is not in the ledger" in unknown.stderr
    assert not LEDGER_KEY.search(failed.output + unknown.output), failed.output


@pytest.mark.parametrize("layout", ["flyway", "goose"])
def test_a_windows_checkout_of_applied_migrations_is_not_drift(
    migrations_dir: Path, database_url: str, layout: str
) -> None:
    """git's core.autocrlf turns every line end into \\r\\n on a Windows checkout (an
    editor may add a BOM): the SQL is the same, as Flyway's line-based checksum says."""
    if layout == "flyway":
        flyway(migrations_dir)
    else:
        (migrations_dir / "001_a.sql").write_text(
            "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n"
        )
    assert migrate(migrations_dir, database_url, "up").code == 0
    for path in migrations_dir.glob("*.sql"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))

    verify = migrate(migrations_dir, database_url, "verify")
    status = migrate(migrations_dir, database_url, "status")

    assert verify.code == 0, verify.output
    assert "drift" not in status.stdout, status.output
    first = sorted(migrations_dir.glob("*.sql"))[0]
    first.write_bytes(first.read_bytes().replace(b"(id int)", b"(id bigint)"))
    assert migrate(migrations_dir, database_url, "verify").code == 1  # a real edit is
