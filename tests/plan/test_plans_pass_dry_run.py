"""Every planned migration passes the project's own ``migrate dry-run``: up, down, up
again, and the schema after the down equals the schema before the up (each recipe of
expand-contract.md, planned on a small project whose base has a real down)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from migrator.ephemeral import EphemeralServer
from tests.helpers import run_cli
from tests.plan.scenario import Project
from tests.plan.test_plans_on_postgres import BASE, CASES

BASE_DOWN = "DROP TABLE events;\nDROP TABLE items;\nDROP TABLE parents;\nDROP TYPE mood;\n"

#: changes of the bug hunt not in CASES (unnamed constraints, a foreign key whose
#: index must be built, a pass-through CREATE TABLE with a change to it)
EXTRA = {
    "unnamed-check": "ALTER TABLE items ADD CHECK (length(note) > 0)",
    "set-not-null-then-unique": (
        "ALTER TABLE items ALTER COLUMN note SET NOT NULL;\nALTER TABLE items ADD UNIQUE (note)"
    ),
    "create-table-and-reference-it": (
        "CREATE TABLE tags (id bigint PRIMARY KEY, name text);\n"
        "CREATE INDEX tags_name_idx ON tags (name);\n"
        "ALTER TABLE items ADD COLUMN tag_id bigint REFERENCES tags (id)"
    ),
    "created-objects-pass-through-with-a-down": (
        "CREATE SCHEMA app;\nCREATE SEQUENCE app.seq;\nCREATE TYPE app.size AS ENUM ('s', 'm');\n"
        "CREATE DOMAIN app.positive AS int CHECK (VALUE > 0);\n"
        "CREATE FUNCTION app.touch(a int, VARIADIC b int[]) RETURNS int LANGUAGE sql "
        "AS 'SELECT 1';\nCREATE VIEW app.recent AS SELECT id FROM items;\n"
        "CREATE FUNCTION app.trig() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN RETURN NEW; END';\n"
        "CREATE TRIGGER t BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION app.trig()"
    ),
}

CHANGES = {case.id: case.change for case in CASES} | EXTRA


def dry_run(directory: Path, server: EphemeralServer) -> tuple[int, dict[str, Any], str]:
    """``migrate dry-run --format json`` (lint first) on a throwaway database of the
    session server."""
    result = run_cli(
        "--dir",
        str(directory),
        "dry-run",
        "--format",
        "json",
        "--database-url",
        server.dsn(),
        cwd=directory,
    )
    assert result.stdout, result.stderr
    return result.code, json.loads(result.stdout), result.stderr


def failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{m['version']} {m['name']}: {m.get('error') or ''} {m.get('round_trip_diff')}"
        for m in report["migrations"]
        if m["status"] != "rehearsed" or m.get("round_trip_ok") is False
    ]


@pytest.mark.parametrize("change", list(CHANGES.values()), ids=list(CHANGES))
def test_the_plan_passes_dry_run(change: str, tmp_path: Path, pg_server: EphemeralServer) -> None:
    project = Project.create(tmp_path, BASE)
    (project.directory / "001_base.down.sql").write_text(BASE_DOWN)
    result = project.plan(change + ";\n")
    assert result.versions

    code, report, stderr = dry_run(project.directory, pg_server)

    assert failures(report) == []
    assert code == 0, stderr
    if change in EXTRA.values():  # nothing here drops data: every migration has a down
        assert [v.irreversible_reason for v in result.versions if v.irreversible_reason] == []
