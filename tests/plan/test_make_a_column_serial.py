"""Making a key serial (finding F-hostile-3, sourcegraph's 0019/0021): ``CREATE
SEQUENCE; SET DEFAULT nextval(); SELECT setval(seq, max(id)) FROM t; ALTER SEQUENCE
OWNED BY``. The setval reads the key by one index probe and OWNED BY touches a sequence
the transaction created: both run under the SET DEFAULT's lock without adding time, for
the linter and the planner alike, so the file plans as one migration (it was split after
SET DEFAULT, and the split refused: inserts in between would take ids from 2 on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config import Settings
from migrator.lint import run_lint
from migrator.plan.model import CannotPlan
from migrator.sql.catalog import Catalog
from migrator.sql.parse import parse_text
from migrator.sql.quick_statements import quick_reads
from migrator.sql.split import split_statements
from tests.plan.scenario import Project, execute, fetch, run

BASE = (
    "CREATE TABLE tenants (id integer PRIMARY KEY, name text NOT NULL, rank int);\n"
    "INSERT INTO tenants SELECT g, 'tenant ' || g FROM generate_series(1, 40) g;\n"
)

SERIAL = (
    "CREATE SEQUENCE IF NOT EXISTS tenants_id_seq AS integer START WITH 2;\n"
    "ALTER TABLE tenants ALTER COLUMN id SET DEFAULT nextval('tenants_id_seq');\n"
    "SELECT setval('tenants_id_seq', COALESCE(MAX(id), 1)) FROM tenants;\n"
    "ALTER SEQUENCE tenants_id_seq OWNED BY tenants.id;\n"
)


def _lint(directory: Path, rule: str) -> list[int]:
    files = sorted(directory.glob("*.up.sql"))
    report = run_lint(Settings(migrations_dir=directory), files)
    return [f.line for f in report.findings if f.rule == rule]


def test_making_a_key_serial_plans_as_one_migration(tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(SERIAL)

    assert len(result.versions) == 1
    (up,) = (version.files[0].text for version in result.versions)
    body = [" ".join(s.text.split()) for s in split_statements(up).statements]
    assert body == [" ".join(line.split())[:-1] for line in SERIAL.splitlines()]
    assert "lint-ignore" not in up
    assert _lint(project.directory, "statements-after-access-exclusive") == []


@pytest.mark.parametrize(
    "reader",
    [
        "SELECT setval('tenants_rank_seq', COALESCE(MAX(rank), 1)) FROM tenants",  # no index
        "SELECT setval('tenants_rank_seq', COALESCE(MAX(rank), 1)) FROM tenants WHERE name <> ''",
    ],
)
def test_a_setval_that_scans_the_table_still_is_not_run_under_the_lock(
    tmp_path: Path, reader: str
) -> None:
    change = (
        "CREATE SEQUENCE tenants_rank_seq;\n"
        "ALTER TABLE tenants ALTER COLUMN rank SET DEFAULT nextval('tenants_rank_seq');\n"
        f"{reader};\n"
    )
    with pytest.raises(CannotPlan, match="changes what running code's inserts"):
        Project.create(tmp_path, BASE).plan(change)
    written = tmp_path / "written"
    written.mkdir()
    (written / "001_base.up.sql").write_text(BASE)
    (written / "002_serial.up.sql").write_text(change)
    assert _lint(written, "statements-after-access-exclusive") == [3]


def test_owned_by_an_older_sequence_still_counts_after_the_lock(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_base.up.sql").write_text(BASE + "CREATE SEQUENCE tenants_id_seq;\n")
    (directory / "002_serial.up.sql").write_text(
        "ALTER TABLE tenants ALTER COLUMN id SET DEFAULT nextval('tenants_id_seq');\n"
        "ALTER SEQUENCE tenants_id_seq OWNED BY tenants.id;\n"
    )
    assert _lint(directory, "statements-after-access-exclusive") == [2]


QUICK = [
    "SELECT setval('s', COALESCE(MAX(id), 1)) FROM t",
    "SELECT setval('s', (SELECT max(id) FROM t), true)",
    "SELECT setval('s', max(id)) FROM t WHERE id < 500",
    "SELECT min(id), max(id) FROM t",
    "SELECT max(code) FROM t",
]


def test_what_the_model_calls_quick_the_server_answers_by_an_index_probe(
    database_url: str,
) -> None:
    schema = (
        "CREATE TABLE t (id integer PRIMARY KEY, code text, note text);\n"
        "CREATE INDEX t_code_idx ON t (code);\n"
        "CREATE SEQUENCE s;\n"
    )
    run(execute(database_url, schema))
    run(
        execute(
            database_url,
            "INSERT INTO t SELECT g, md5(g::text), 'x' FROM generate_series(1, 20000) g;ANALYZE t;",
        )
    )
    catalog = Catalog()
    catalog.begin_file("0001.up")
    for statement in parse_text(schema) or ():
        catalog.apply(statement.kind, statement.fields)
    for sql in QUICK:
        (statement,) = parse_text(sql) or ()
        assert quick_reads(statement.kind, statement.fields, catalog) is not None, sql
        plan = "\n".join(row[0] for row in run(fetch(database_url, f"EXPLAIN {sql}")))
        assert "Seq Scan" not in plan and "Index Only Scan" in plan, (sql, plan)
