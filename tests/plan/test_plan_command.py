"""``migrate plan`` as a user runs it: writes the phased migrations and prints the
deploy sequence; ``--print`` writes nothing; what cannot be made safe exits 1 with
nothing written; a pending migration is replaced only with ``--replace``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.plan.test_plans_on_postgres import BASE


def _project(tmp_path: Path) -> Path:
    directory = tmp_path / "database" / "migrations"
    directory.mkdir(parents=True)
    (directory / "001_base.up.sql").write_text(BASE)
    (directory / "001_base.down.sql").write_text("SELECT 1;\n")
    return directory


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_plan_writes_the_phases_and_prints_the_deploy_sequence(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (tmp_path / "rename.sql").write_text(
        "ALTER TABLE items RENAME COLUMN email TO email_address;\n"
    )

    result = run_cli("plan", "rename.sql", cwd=tmp_path)

    assert result.code == 0, result.output
    assert _names(directory) == [
        "001_base.down.sql",
        "001_base.up.sql",
        "002_rename_expand.down.sql",
        "002_rename_expand.up.sql",
        "003_rename_expand_concurrently.down.sql",
        "003_rename_expand_concurrently.up.sql",
        "004_rename_backfill.down.sql",
        "004_rename_backfill.up.sql",
        "005_rename_contract_validate.down.sql",
        "005_rename_contract_validate.up.sql",
        "006_rename_contract.sql",
    ]
    out = result.stdout
    assert "rename column: ALTER TABLE items RENAME COLUMN email TO email_address" in out
    assert "1. migrate up --phase expand   (002, 003)" in out
    assert "2. migrate up --phase backfill   (004)" in out
    assert "3. deploy application code that reads and writes email_address" in out
    assert "4. migrate up --phase contract   (005, 006)" in out
    assert "[irreversible: `ALTER TABLE items DROP COLUMN email` cannot be undone]" in out


def test_print_shows_the_files_and_writes_nothing(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (tmp_path / "index.sql").write_text("CREATE INDEX ON items (qty);\n")

    result = run_cli("plan", "index.sql", "--print", cwd=tmp_path)

    assert result.code == 0, result.output
    assert _names(directory) == ["001_base.down.sql", "001_base.up.sql"]
    assert "Would write (nothing written, --print)" in result.stdout
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_qty_idx ON items (qty);" in result.stdout


def test_unsafe_change_exits_1_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (tmp_path / "x.sql").write_text(
        "CREATE INDEX ON items (qty);\n"
        "ALTER TABLE events ADD COLUMN t uuid NOT NULL DEFAULT gen_random_uuid();\n"
    )

    result = run_cli("plan", "x.sql", cwd=tmp_path)

    assert result.code == 1
    assert result.stderr.startswith("error: x.sql:2: cannot fill")
    assert "events has no single-column primary key" in result.stderr
    assert "Traceback" not in result.output
    assert _names(directory) == ["001_base.down.sql", "001_base.up.sql"]


def test_a_pending_migration_is_replaced_only_with_replace(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    pending = directory / "002_qty_index.up.sql"
    pending.write_text("CREATE INDEX items_qty_idx ON items (qty);\n")
    (directory / "002_qty_index.down.sql").write_text("DROP INDEX items_qty_idx;\n")

    refused = run_cli("plan", str(pending), cwd=tmp_path)
    assert refused.code == 2
    assert "pass --replace" in refused.stderr

    replaced = run_cli("plan", str(pending), "--replace", cwd=tmp_path)
    assert replaced.code == 0, replaced.output
    assert _names(directory) == [
        "001_base.down.sql",
        "001_base.up.sql",
        "002_qty_index.down.sql",
        "002_qty_index.up.sql",
    ]
    assert "CONCURRENTLY" in pending.read_text()
    assert "removed" not in replaced.stdout  # rewritten in place, not removed


def test_print_of_a_pending_migration_shows_what_replace_would_write(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    pending = directory / "002_qty_index.up.sql"
    pending.write_text("CREATE INDEX items_qty_idx ON items (qty);\n")
    (directory / "002_qty_index.down.sql").write_text("DROP INDEX items_qty_idx;\n")
    before = {p.name: p.read_text() for p in directory.iterdir()}

    shown = run_cli("plan", str(pending), "--print", cwd=tmp_path)

    assert shown.code == 0, shown.output
    assert "CONCURRENTLY" in shown.stdout
    assert "--print to look at the plan" not in shown.output
    assert {p.name: p.read_text() for p in directory.iterdir()} == before


def _pending(directory: Path, name: str, up: str, down: str) -> Path:
    (directory / f"{name}.down.sql").write_text(down)
    path = directory / f"{name}.up.sql"
    path.write_text(up)
    return path


def test_replacing_a_pending_migration_keeps_its_place_in_the_order(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    pending = _pending(
        directory,
        "002_qty_index",
        "CREATE INDEX items_qty_idx ON items (qty);\n",
        "DROP INDEX items_qty_idx;\n",
    )
    _pending(directory, "003_note", "ALTER TABLE items ADD COLUMN n2 text;\n", "SELECT 1;\n")

    replaced = run_cli("plan", str(pending), "--replace", cwd=tmp_path)

    assert replaced.code == 0, replaced.output
    assert _names(directory) == [
        "001_base.down.sql",
        "001_base.up.sql",
        "002_qty_index.down.sql",
        "002_qty_index.up.sql",
        "003_note.down.sql",
        "003_note.up.sql",
    ]
    assert "CONCURRENTLY" in pending.read_text()


def test_replace_refuses_when_the_plan_does_not_fit_before_the_next_migration(
    tmp_path: Path,
) -> None:
    directory = _project(tmp_path)
    text = "ALTER TABLE items RENAME COLUMN email TO email_address;\n"
    pending = _pending(directory, "002_rename", text, "SELECT 1;\n")
    _pending(directory, "003_note", "ALTER TABLE items ADD COLUMN n2 text;\n", "SELECT 1;\n")
    before = _names(directory)

    refused = run_cli("plan", str(pending), "--replace", cwd=tmp_path)

    assert refused.code == 2
    assert "--replace" in refused.stderr and "003_note" in refused.stderr
    assert "Traceback" not in refused.output
    assert _names(directory) == before
    assert pending.read_text() == text


def test_replacing_a_migration_that_is_safe_as_written_leaves_it_as_it_is(
    tmp_path: Path,
) -> None:
    directory = _project(tmp_path)
    up = "CREATE TABLE tags (id bigint PRIMARY KEY);\n"
    pending = _pending(directory, "002_tags", up, "DROP TABLE tags;\n")
    _pending(directory, "003_idx", "CREATE INDEX tags_id ON tags (id);\n", "SELECT 1;\n")
    before = _names(directory)

    result = run_cli("plan", str(pending), "--replace", cwd=tmp_path)

    assert result.code == 0, result.output
    assert "left as it is" in result.stdout
    assert _names(directory) == before
    assert pending.read_text() == up


def test_a_passed_through_create_gets_a_down(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (tmp_path / "tags.sql").write_text(
        "CREATE TABLE tags (id bigint PRIMARY KEY, name text);\n"
        "CREATE INDEX tags_name_idx ON tags (name);\n"
    )

    result = run_cli("plan", "tags.sql", cwd=tmp_path)

    assert result.code == 0, result.output
    assert "irreversible" not in result.stdout
    down = (directory / "002_tags.down.sql").read_text()
    assert down.index("DROP INDEX IF EXISTS tags_name_idx;") < down.index(
        "DROP TABLE IF EXISTS tags;"
    )
    assert "sync trigger" not in (directory / "002_tags.up.sql").read_text()


def test_a_statement_without_a_derivable_down_says_so(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (tmp_path / "c.sql").write_text("COMMENT ON TABLE items IS 'things';\n")

    result = run_cli("plan", "c.sql", cwd=tmp_path)

    assert result.code == 0, result.output
    assert "no down can be derived for `COMMENT ON TABLE items IS 'things'`" in result.stdout
    assert (directory / "002_c.sql").exists()


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    _project(tmp_path)
    result = run_cli("plan", "nope.sql", cwd=tmp_path)
    assert result.code == 2
    assert "nope.sql: no such file" in result.stderr


def test_a_statement_too_deep_to_parse_is_a_usage_error_not_a_crash(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    deep = " || ".join(["'x'"] * 25000)
    change = tmp_path / "change.sql"
    change.write_text(f"ALTER TABLE items ADD COLUMN note text DEFAULT {deep};\n")

    result = run_cli("plan", str(change), cwd=tmp_path)

    assert result.code == 2
    assert "change.sql:1: this statement is nested too deeply" in result.stderr
    assert _names(directory) == ["001_base.down.sql", "001_base.up.sql"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("ALTER TABLE items ALTER COLUMN nosuch SET NOT NULL", "column nosuch of items"),
        ("ALTER TABLE items DROP COLUMN nosuch", "column nosuch of items does not exist"),
        ("ALTER TABLE items RENAME COLUMN nosuch TO b", "column nosuch of items does not exist"),
        ("ALTER TABLE items ALTER COLUMN nosuch TYPE bigint", "column nosuch of items"),
        ("ALTER TABLE items RENAME COLUMN note TO email", "items already has a column email"),
        ("ALTER TABLE items ADD COLUMN note text", "items already has a column note"),
        ("DROP INDEX nosuch_idx", "index nosuch_idx is not created by any earlier migration"),
        ("ALTER TYPE nosuch ADD VALUE 'x'", "type nosuch is not an enum type"),
        ("ALTER TYPE mood ADD VALUE 'x' AFTER 'nope'", "enum mood has no value 'nope'"),
    ],
)
def test_a_name_the_schema_does_not_have_is_a_usage_error_with_file_and_line(
    tmp_path: Path, change: str, message: str
) -> None:
    directory = _project(tmp_path)
    (tmp_path / "c.sql").write_text(f"CREATE INDEX ON items (qty);\n\n{change};\n")

    result = run_cli("plan", "c.sql", cwd=tmp_path)

    assert result.code == 2, result.output
    assert result.stderr.startswith("error: c.sql:3: "), result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _names(directory) == ["001_base.down.sql", "001_base.up.sql"]


def test_dropping_an_unknown_index_with_if_exists_is_planned(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "c.sql").write_text("DROP INDEX IF EXISTS made_by_hand_idx;\n")

    result = run_cli("plan", "c.sql", "--print", cwd=tmp_path)

    assert result.code == 0, result.output
    assert "DROP INDEX CONCURRENTLY IF EXISTS made_by_hand_idx;" in result.stdout


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("DROP SCHEMA public CASCADE;\n", "drop-schema-or-database"),
        ("VACUUM FULL items;\n", "table-rewrite"),
        ("ALTER TABLE items SET UNLOGGED;\n", "table-rewrite"),
    ],
)
def test_what_the_planner_has_no_safe_form_for_is_refused_not_called_safe(
    tmp_path: Path, change: str, rule: str
) -> None:
    """Statements with no recipe used to pass through as "safe as written", and the
    migration written then failed `migrate lint`: the plan's files are linted first."""
    directory = _project(tmp_path)
    (tmp_path / "change.sql").write_text(change)

    result = run_cli("plan", "change.sql", cwd=tmp_path)

    assert result.code == 1, result.output
    assert "safe as written" not in result.output
    assert f"[{rule}]" in result.stderr and "nothing was written" in result.stderr
    assert "migrator-plan-lint" not in result.stderr  # the real paths, not the scratch copy
    assert _names(directory) == ["001_base.down.sql", "001_base.up.sql"]


def test_a_safe_statement_still_passes_through(tmp_path: Path) -> None:
    directory = _project(tmp_path)
    (tmp_path / "change.sql").write_text("ALTER TABLE items ADD COLUMN remark text;\n")

    result = run_cli("plan", "change.sql", cwd=tmp_path)

    assert result.code == 0, result.output
    assert "every statement is safe as written" in result.stdout
    assert len(_names(directory)) == 4
