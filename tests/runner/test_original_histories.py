"""The six real histories of shared/corpora/original/, in their own tools' layouts and
byte-identical to their repositories, run as they are: ``up`` on a fresh database,
``status`` all applied, ``verify`` ok, a second ``up`` a no-op, and ``down`` to the
start where the history has downs. Lemmy needs PostgreSQL 16+ from
``smoosh-tables-together`` on: on 15 it stops before that migration (``--to``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.ephemeral import EphemeralServer
from migrator.source import discover
from tests.helpers import run_cli

ORIGINAL = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "original"
if not ORIGINAL.is_dir():
    ORIGINAL = Path("/work/shared/corpora/original")

#: folder -> (layout it is detected as, the version ``down --to`` reverts to: the first
#: one, or where the history's own downs stop working; None: no downs to run)
HISTORIES: dict[str, tuple[str, str | None]] = {
    # 2022-07-27-110000_add_group_support/down.sql drops `groups` before the two tables
    # whose foreign keys reference it: PostgreSQL (and so diesel) refuses it
    "diesel_vaultwarden": ("diesel", "2022-07-27-110000"),
    "goose_permify": ("goose", "20230117143902"),
    "flyway_kestra": ("flyway", None),
    # 20250412000000_add_user_disabled_field.down.sql drops an index no up created (and
    # 20250408120918_app_config_cols.down.sql below it has trailing commas)
    "golang-migrate_pocket-id": ("migrator", "20250412000000"),
    # 20220428190104_message_expiration.down.sql drops the column its index is on, then
    # the index, which went with the column
    "sqlx_svix-webhooks": ("migrator", "20220428190104"),
}
#: lemmy's first migration that needs PostgreSQL 16
LEMMY_PG16_FROM = "smoosh-tables-together"
#: lemmy's newest down that PostgreSQL 15 cannot run (it needs 18)
LEMMY_PG18_DOWN = "2025-08-01-000012"


def history(folder: str) -> Path:
    directory = ORIGINAL / folder
    if not directory.is_dir():
        pytest.skip(f"{directory} is absent (shared/corpora is beside the checkout in CI)")
    return directory


def migrate(directory: Path, database_url: str, *args: str) -> str:
    result = run_cli("--dir", str(directory), "--database-url", database_url, *args)
    assert result.code == 0, result.output
    return result.stdout


def status_rows(directory: Path, database_url: str) -> list[dict[str, object]]:
    report = json.loads(migrate(directory, database_url, "status", "--format", "json"))
    rows: list[dict[str, object]] = report["migrations"]
    return rows


def check_round_trip(
    directory: Path, database_url: str, *, to: str | None = None, down_to: str | None = None
) -> None:
    migration_set = discover(directory)
    assert migration_set.problems == ()
    target = ("--to", to) if to else ()
    migrate(directory, database_url, "up", *target)
    expected = [
        m.version_text
        for m in migration_set.migrations
        if to is None or m.version <= migration_set.version_key(to)
    ]
    rows = status_rows(directory, database_url)
    applied = [row["version_text"] for row in rows if row["state"] == "applied"]
    assert applied == expected
    assert migrate(directory, database_url, "verify")
    again = run_cli("--dir", str(directory), "--database-url", database_url, "up", *target)
    assert again.code == 0 and "nothing to apply" in again.stdout, again.output
    if down_to is not None:
        migrate(directory, database_url, "down", "--to", down_to)
        rows = status_rows(directory, database_url)
        floor = migration_set.version_key(down_to)
        kept = [m.version_text for m in migration_set.migrations if m.version <= floor]
        assert [row["version_text"] for row in rows if row["state"] == "applied"] == kept
        assert all(row["state"] == "pending" for row in rows if row["version_text"] not in kept)


@pytest.mark.parametrize("folder", sorted(HISTORIES))
def test_original_history_runs_as_it_is(folder: str, database_url: str) -> None:
    directory = history(folder)
    layout, down_to = HISTORIES[folder]
    assert discover(directory).layout == layout
    check_round_trip(directory, database_url, down_to=down_to)


@pytest.mark.slow
def test_lemmy_runs_as_it_is_up_to_postgresql_16(
    database_url: str, pg_server: EphemeralServer
) -> None:
    directory = history("diesel_lemmy")
    migration_set = discover(directory)
    assert migration_set.layout == "diesel"
    names = [m.name for m in migration_set.migrations]
    stop = names.index(LEMMY_PG16_FROM)
    last_on_15 = migration_set.migrations[stop - 1].version_text
    # 2025-08-01-000012_no-individual-inboxes/down.sql renames a NOT NULL constraint by
    # the name PostgreSQL 18 gives it: on 15 the downs go as far as that one
    check_round_trip(directory, database_url, to=last_on_15, down_to=LEMMY_PG18_DOWN)


def test_flyway_repeatables_run_after_the_versions_and_again_when_changed(
    migrations_dir: Path, database_url: str
) -> None:
    (migrations_dir / "V1__users.sql").write_text("CREATE TABLE users (id int, name text);\n")
    (migrations_dir / "U1__users.sql").write_text("DROP TABLE users;\n")
    view = migrations_dir / "R__user_names.sql"
    view.write_text("CREATE OR REPLACE VIEW user_names AS SELECT name FROM users;\n")
    (migrations_dir / "R__a_first.sql").write_text("SELECT 1;\n")
    (migrations_dir / "V2__emails.sql").write_text("ALTER TABLE users ADD COLUMN email text;\n")
    (migrations_dir / "U2__emails.sql").write_text("ALTER TABLE users DROP COLUMN email CASCADE;\n")

    def applied_by_up() -> list[str]:
        result = run_cli("--dir", str(migrations_dir), "--database-url", database_url, "up")
        assert result.code == 0, result.output
        lines = result.stderr.splitlines()
        return [line.split()[1] for line in lines if line.startswith("applied ")]

    assert applied_by_up() == ["1_users", "2_emails", "R__a_first", "R__user_names"]
    assert migrate(migrations_dir, database_url, "verify")
    again = run_cli("--dir", str(migrations_dir), "--database-url", database_url, "up")
    assert "nothing to apply" in again.stdout, again.output

    view.write_text("CREATE OR REPLACE VIEW user_names AS SELECT name, email FROM users;\n")
    rows = {row["name"]: row["state"] for row in status_rows(migrations_dir, database_url)}
    assert rows == {
        "users": "applied",
        "emails": "applied",
        "a_first": "applied",
        "user_names": "pending",
    }
    assert migrate(migrations_dir, database_url, "verify")  # pending, not drift
    assert applied_by_up() == ["R__user_names"]
    down = run_cli("--dir", str(migrations_dir), "--database-url", database_url, "down")
    assert down.code == 0 and "reverted 2_emails" in down.stderr, down.output  # not R__
