"""`migrate schema dump` and `migrate schema verify` from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.helpers import run_cli
from tests.helpers_db import write_migrations

MIGRATIONS = {
    "001_items.up.sql": "CREATE TABLE items (id int PRIMARY KEY, name text);",
    "001_items.down.sql": "DROP TABLE items;",
}


@pytest.mark.parametrize(
    "verify", [("schema", "verify"), ("verify", "--schema")], ids=["schema-verify", "verify-schema"]
)
def test_dump_from_migrations_then_verify_passes_and_catches_drift(
    migrations_dir: Path, tmp_path: Path, verify: tuple[str, str]
) -> None:
    write_migrations(migrations_dir, MIGRATIONS)
    schema = tmp_path / "schema.sql"
    dumped = run_cli(
        "--dir",
        str(migrations_dir),
        "schema",
        "dump",
        "--from-migrations",
        "--output",
        str(schema),
        cwd=tmp_path,
    )
    assert dumped.code == 0, dumped.output
    assert "CREATE TABLE public.items" in schema.read_text()
    verified = run_cli("--dir", str(migrations_dir), *verify, str(schema), cwd=tmp_path)
    assert verified.code == 0, verified.output
    assert "build exactly the schema" in verified.stdout

    write_migrations(
        migrations_dir,
        {
            "002_price.up.sql": "ALTER TABLE items ADD COLUMN price numeric;",
            "002_price.down.sql": "ALTER TABLE items DROP COLUMN price;",
        },
    )
    drifted = run_cli("--dir", str(migrations_dir), *verify, str(schema), cwd=tmp_path)
    assert drifted.code == 1
    assert "table items: column price added" in drifted.stdout
    assert "schema dump --from-migrations" in drifted.stderr


def test_dump_of_a_database_records_its_applied_versions(
    migrations_dir: Path, database_url: str, tmp_path: Path
) -> None:
    write_migrations(migrations_dir, MIGRATIONS)
    applied = run_cli(
        "--dir", str(migrations_dir), "--database-url", database_url, "up", cwd=tmp_path
    )
    assert applied.code == 0, applied.output
    dumped = run_cli(
        "--dir", str(migrations_dir), "--database-url", database_url, "schema", "dump", cwd=tmp_path
    )
    assert dumped.code == 0, dumped.output
    assert "-- migrator:applied-versions 1" in dumped.stdout
    assert "migrator_ledger" not in dumped.stdout

    async def tables() -> list[str]:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname='public'"
            )
            return sorted(r["tablename"] for r in rows)
        finally:
            await connection.close()

    assert "items" in asyncio.run(tables()), "dump reads, never changes"
