"""Hostile fleets (round 3): a targets file whose connection strings do not parse or
point nowhere, with passwords in every form: masked everywhere, and each target's
line says in full what is wrong (P5)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from tests.fleet.conftest import dead_port, targets_file
from tests.helpers import run_cli
from tests.helpers_db import write_migrations

SECRET = "Hidden-Pw-77"


def test_an_unparseable_target_says_the_whole_problem_and_no_password(
    tmp_path: Path, database_url: str
) -> None:
    # P5: the fleet masked the one-line error as if it were a connection string: from
    # `password=` to the hint's " key=value", the explanation was cut away
    server = urlsplit(database_url)
    directory = write_migrations(tmp_path / "m", {"001_t.up.sql": "CREATE TABLE t (id int);\n"})
    broken = f"host={server.hostname} port={server.port} dbname=x user=u password='it''s {SECRET}'"
    down = f"postgresql://u:{SECRET}%40x@127.0.0.1:{dead_port()}/gone"
    path = targets_file(
        tmp_path / "fleet.toml", targets=[("broken", broken), ("down", down), ("ok", database_url)]
    )
    up = run_cli("--dir", str(directory), "up", "--targets", str(path), "--continue-on-error")
    status = run_cli(
        "--dir",
        str(directory),
        "status",
        "--targets",
        str(path),
        "--continue-on-error",
        "--format",
        "json",
    )
    for result in (up, status):
        assert SECRET not in result.output and "it''s" not in result.output, result.output
    assert up.code == 3, up.output  # a wrong URL (2) and an unreachable target (3)
    line = next(line for line in up.stdout.splitlines() if line.startswith("broken: failed:"))
    assert "does not parse" in line and "or key=value pairs) (" in line, line
    errors = {t["name"]: t["error"] for t in json.loads(status.stdout)["targets"]}
    assert errors["broken"].endswith("or key=value pairs)"), errors
    assert errors["down"].startswith("cannot connect to postgresql://u:***@127.0.0.1:"), errors


def test_a_clean_verify_of_a_target_says_ok_once(tmp_path: Path, database_url: str) -> None:
    # P10: "tenant: ok: ok: 1 applied migration(s) match their files"
    directory = write_migrations(tmp_path / "m", {"001_t.up.sql": "CREATE TABLE t (id int);\n"})
    path = targets_file(tmp_path / "fleet.toml", targets=[("tenant", database_url)])
    assert run_cli("--dir", str(directory), "up", "--targets", str(path)).code == 0
    verify = run_cli("--dir", str(directory), "verify", "--targets", str(path))
    assert verify.code == 0, verify.output
    assert verify.stdout.startswith("tenant: ok: 1 applied migration(s) match their files ("), (
        verify.stdout
    )
