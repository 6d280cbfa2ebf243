"""`migrate lint --database-url`: live facts from a real PostgreSQL (the shared
ephemeral server), named in the output; the password never shown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from migrator.lint.live import read_live_facts
from migrator.sql.names import QualifiedName
from tests.helpers import run_cli


def _execute(dsn: str, sql: str) -> None:
    async def go() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(go())


SETUP = """
CREATE TABLE legacy (id bigint PRIMARY KEY, name varchar(20), note text);
INSERT INTO legacy SELECT g, 'n' || g, NULL FROM generate_series(1, 500) g;
ANALYZE legacy;
"""


def test_read_live_facts(database_url: str) -> None:
    _execute(database_url, SETUP)
    facts = read_live_facts(database_url)
    assert facts.major_version >= 10
    assert facts.row_estimate(QualifiedName("public", "legacy")) == 500
    name_type = facts.column_type(QualifiedName("public", "legacy"), "name")
    assert name_type is not None and name_type.sql == "varchar(20)"


def test_lint_uses_real_column_types_and_says_so(database_url: str, tmp_path: Path) -> None:
    _execute(database_url, SETUP)
    widen = tmp_path / "widen.sql"
    widen.write_text("ALTER TABLE legacy ALTER COLUMN name TYPE varchar(50);\n")
    narrow = tmp_path / "narrow.sql"
    narrow.write_text("ALTER TABLE legacy ALTER COLUMN name TYPE integer USING 0;\n")

    safe = run_cli(
        "--database-url", database_url, "lint", str(widen), "--format", "json", cwd=tmp_path
    )
    assert safe.code == 0, safe.output
    assert "column-type-rewrite" not in {f["rule"] for f in json.loads(safe.stdout)}
    # without the database the old type is unknown: flagged
    offline = run_cli("lint", str(widen), "--format", "json", cwd=tmp_path)
    assert "column-type-rewrite" in {f["rule"] for f in json.loads(offline.stdout)}

    flagged = run_cli("--database-url", database_url, "lint", str(narrow), cwd=tmp_path)
    assert flagged.code == 1
    assert "from varchar(20) to integer" in flagged.stdout
    assert "= fact: about 500 rows in public.legacy" in flagged.stdout
    assert "facts from the database: server version" in flagged.stdout
    assert "(from the database)" in flagged.stdout  # the target version's origin


def test_unreachable_database_is_a_connection_error_without_password(tmp_path: Path) -> None:
    sql = tmp_path / "m.sql"
    sql.write_text("SELECT 1;\n")
    url = "postgresql://someone:s3cret@127.0.0.1:1/nowhere"
    result = run_cli("--database-url", url, "lint", str(sql), cwd=tmp_path)
    assert result.code == 3
    assert "s3cret" not in result.output
    assert "cannot connect" in result.stderr and "nothing is listening" in result.stderr


def test_database_url_in_the_environment_does_not_make_lint_connect(tmp_path: Path) -> None:
    sql = tmp_path / "m.sql"
    sql.write_text("SELECT 1;\n")
    result = run_cli(
        "lint", str(sql), env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"}, cwd=tmp_path
    )
    assert result.code == 0, result.output
    assert "facts from the database" not in result.stdout


def test_github_and_sarif_say_which_facts_came_from_the_database(
    database_url: str, tmp_path: Path
) -> None:
    _execute(database_url, SETUP)
    narrow = tmp_path / "narrow.sql"
    narrow.write_text("ALTER TABLE legacy ALTER COLUMN name TYPE integer USING 0;\n")
    args = ("--database-url", database_url, "lint", str(narrow), "--format")

    github = run_cli(*args, "github", cwd=tmp_path)
    assert github.code == 1
    [annotation] = [line for line in github.stdout.splitlines() if "column-type-rewrite" in line]
    assert "; fact: type of public.legacy.name is varchar(20) (from the database)" in annotation
    assert "::notice title=migrate lint::facts from the database: server version" in github.stdout

    sarif = run_cli(*args, "sarif", cwd=tmp_path)
    run = json.loads(sarif.stdout)["runs"][0]
    [result] = [r for r in run["results"] if r["ruleId"] == "column-type-rewrite"]
    assert any("about 500 rows in public.legacy" in fact for fact in result["properties"]["facts"])
    assert "(from the database)" in result["message"]["text"]
    assert run["properties"]["liveFacts"][0].startswith("server version")
