"""The planner and the linter build the schema of the earlier migrations with one replay
(:class:`migrator.sql.file_replay.Replay`): they cannot disagree about it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.lint.targets import replay as lint_replay
from migrator.plan.catalog_facts import replay as plan_replay
from migrator.plan.dependents import Dependents
from migrator.source import discover
from migrator.sql.catalog import Catalog
from tests.plan.scenario import Project

#: earlier migrations that exercise what the two old loops did differently: a file
#: that does not parse as a whole, one run outside a transaction with an explicit
#: transaction in it, views, renames, moves and search_path changes
MIGRATIONS = {
    "001_base.up.sql": """
        CREATE SCHEMA app;
        CREATE TABLE app.items (id bigint PRIMARY KEY, email text NOT NULL, note text);
        CREATE UNIQUE INDEX items_email_key ON app.items (email);
        CREATE TABLE parents (id int PRIMARY KEY);
    """,
    "002_broken.up.sql": """
        CREATE TABLE orders (id bigint PRIMARY KEY, status text, parent_id int
            REFERENCES parents (id));
        SELEC this is no statement;
        ALTER TABLE orders ADD COLUMN total numeric NOT NULL DEFAULT 0;
    """,
    "003_outside.up.sql": """
        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
        BEGIN;
        ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total >= 0) NOT VALID;
        COMMIT;
        ALTER TABLE orders VALIDATE CONSTRAINT total_positive;
    """,
    "004_views.up.sql": """
        SET search_path TO app, public;
        CREATE VIEW item_emails AS SELECT id, email FROM items;
        ALTER TABLE items RENAME COLUMN note TO remark;
        ALTER TABLE parents RENAME TO families;
        ALTER TABLE orders SET SCHEMA app;
    """,
}


def _write(directory: Path) -> None:
    directory.mkdir()
    for name, text in MIGRATIONS.items():
        (directory / name).write_text(text)


def _summary(catalog: Catalog) -> dict[str, Any]:
    """Everything the catalog says of each table, as plain values."""
    return {
        str(table.name): (
            table.kind,
            [(c.name, c.type.sql, c.not_null, c.default_sql) for c in table.columns],
            sorted(
                (c.name, c.kind, c.columns, c.valid, str(c.references)) for c in table.constraints
            ),
            sorted((str(i.name), i.columns, i.unique, i.valid) for i in table.indexes),
        )
        for table in sorted(catalog.tables(), key=lambda table: str(table.name))
    }


def test_the_planner_and_the_linter_replay_the_same_schema(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    migrations = list(discover(tmp_path / "m").migrations)
    linted = Catalog()
    for migration in migrations:
        lint_replay(migration.up, linted, f"{migration.label}.up")
    planned = plan_replay(migrations, Dependents()).catalog
    assert _summary(planned) == _summary(linted)
    summary = _summary(linted)
    assert set(summary) == {"app.item_emails", "app.items", "app.orders", "public.families"}
    columns = [column[0] for column in summary["app.orders"][1]]
    assert columns == ["id", "status", "parent_id", "total"]  # past the broken statement
    assert ("total_positive", "check", (), True, "None") in summary["app.orders"][2]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.create(tmp_path, "CREATE TABLE parents (id int PRIMARY KEY);\n")


def test_an_earlier_file_with_a_syntax_error_is_replayed_as_the_linter_replays_it(
    project: Project,
) -> None:
    """Behaviour change: the planner replayed an earlier file only when the whole file
    parsed, so a table created next to a broken statement was "not created by any
    earlier migration" for the planner and known to the linter. Both now replay every
    statement that parses."""
    (project.directory / "002_orders.up.sql").write_text(
        "CREATE TABLE orders (id bigint PRIMARY KEY, status text);\nSELEC broken;\n"
    )
    result = project.plan("ALTER TABLE orders RENAME COLUMN status TO state")
    assert [change.recipe for change in result.plan.changes] == ["rename column"]
