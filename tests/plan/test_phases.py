"""Which migrations ``up --phase`` covers, and when a contract migration must wait."""

from __future__ import annotations

from pathlib import Path

from migrator.plan.phases import contract_refusal, select_for_phase, unfinished_backfills
from migrator.source import Migration, discover

FILES = {
    "001_base.sql": "SELECT 1;",
    "002_expand.up.sql": "-- migrate:phase expand\nSELECT 1;",
    "003_fill.up.sql": "-- migrate:phase backfill\n-- migrate:backfill table=t key=id\n"
    "UPDATE t SET b = a WHERE id BETWEEN $1 AND $2;",
    "004_contract.sql": "-- migrate:phase contract\nSELECT 1;",
    "005_next_expand.up.sql": "-- migrate:phase expand\nSELECT 1;",
}


def _migrations(tmp_path: Path) -> list[Migration]:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    for name in FILES:
        if name.endswith(".up.sql"):
            (tmp_path / name.replace(".up.", ".down.")).write_text("SELECT 1;")
    return list(discover(tmp_path).migrations)


def test_a_phase_stops_before_the_first_migration_of_a_later_phase(tmp_path: Path) -> None:
    migrations = _migrations(tmp_path)
    versions = lambda phase: [m.version for m in select_for_phase(migrations, phase)]  # noqa: E731
    assert versions("expand") == [1, 2]
    assert versions("backfill") == [1, 2, 3]
    assert versions("contract") == [1, 2, 3, 4, 5]
    assert [m.version for m in select_for_phase(migrations[3:], "expand")] == []


def test_contract_waits_for_every_earlier_unfinished_backfill(tmp_path: Path) -> None:
    migrations = _migrations(tmp_path)
    contract = migrations[3]
    (waiting,) = unfinished_backfills(contract, migrations, {1: True, 2: True})
    assert waiting.version == 3
    assert "003_fill" in contract_refusal(contract, [waiting])
    assert unfinished_backfills(contract, migrations, {1: True, 2: True, 3: True}) == []
    assert unfinished_backfills(migrations[4], migrations, {}) == []
