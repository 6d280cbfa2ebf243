"""Fleet commands on real servers: many databases, two servers, failures, stops,
shards, concurrent fleet runs, and a fleet killed half-way."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from migrator.ephemeral import EphemeralServer
from tests.fleet.conftest import dead_port, targets_file
from tests.helpers import run_cli, start_cli
from tests.helpers_db import write_migrations

EVENTS = "CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY, kind text);"
NO_ENV = {"DATABASE_URL": None, "MIGRATOR_TARGETS": None}


def _second_target_broken(tmp_path: Path, databases: Any) -> Path:
    """A targets file over ``databases`` whose second database already has the table
    migration 001 creates, so 001 fails there."""
    databases.scalar(databases.names[1], "CREATE TABLE events (id int, kind text)")
    return targets_file(
        tmp_path / "fleet.toml", targets=[(name, databases.url(name)) for name in databases.names]
    )


def _fleet(*args: str, cwd: Path) -> Any:
    return run_cli(*args, env=NO_ENV, cwd=cwd)


@pytest.mark.parametrize(
    "count",
    [
        pytest.param(100, marks=pytest.mark.slow, id="100-databases"),
        pytest.param(12, id="12-databases"),
    ],
)
def test_many_databases_and_a_second_server_reach_head_exactly_once(
    count: int,
    tmp_path: Path,
    make_databases: Any,
    second_server: EphemeralServer,
    fleet_migrations: Path,
    pg_server: EphemeralServer,
) -> None:
    many = make_databases(count)
    other = make_databases(3, second_server)
    path = targets_file(
        tmp_path / "fleet.toml",
        targets=[(f"other/{name}", other.url(name)) for name in other.names],
        discover=[
            (
                pg_server.dsn("postgres"),
                f"SELECT datname FROM pg_database WHERE datname LIKE '{many.prefix}\\_%'",
                "",
            )
        ],
    )
    first = _fleet(
        "--dir",
        str(fleet_migrations),
        "up",
        "--targets",
        str(path),
        "--concurrency",
        "8",
        cwd=tmp_path,
    )
    assert first.code == 0, first.output
    lines = [line for line in first.stdout.splitlines() if ": ok: applied 3 migrations" in line]
    assert len(lines) == count + 3
    assert f"fleet up: {count + 3} targets: {count + 3} ok" in first.stdout
    assert set(many.seeded_rows().values()) == {1}
    assert set(other.seeded_rows().values()) == {1}
    assert set(many.versions().values()) == {3}

    again = _fleet("--dir", str(fleet_migrations), "up", "--targets", str(path), cwd=tmp_path)
    assert again.code == 0, again.output
    assert again.stdout.count("up to date at version 3") == count + 3
    assert set(many.seeded_rows().values()) == {1}

    status = _fleet(
        "--dir",
        str(fleet_migrations),
        "status",
        "--targets",
        str(path),
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert status.code == 0, status.output
    report = json.loads(status.stdout)
    assert len(report["targets"]) == count + 3
    first_target = report["targets"][0]
    assert first_target["name"] == f"other/{other.names[0]}"
    assert {t["state"] for t in report["targets"]} == {"up to date"}
    assert {t["current_version"] for t in report["targets"]} == {3}
    assert {t["pending"] for t in report["targets"]} == {0}
    assert {t["error"] for t in report["targets"]} == {None}


def test_a_down_server_and_a_failing_migration_are_named_and_the_rest_finish(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path
) -> None:
    good = make_databases(4)
    broken = make_databases(1)
    with_password = f"postgresql://app:Sup3rSecret@127.0.0.1:{dead_port()}/gone"
    broken.scalar(broken.names[0], "CREATE TABLE events (id int, kind text)")  # 001 will fail here
    path = targets_file(
        tmp_path / "fleet.toml",
        targets=[("down", with_password), ("broken", broken.url(broken.names[0]))]
        + [(name, good.url(name)) for name in good.names],
    )
    result = _fleet(
        "--dir",
        str(fleet_migrations),
        "up",
        "--targets",
        str(path),
        "--continue-on-error",
        cwd=tmp_path,
    )
    assert result.code == 4, result.output  # a failed migration outranks an unreachable target
    assert "Sup3rSecret" not in result.output
    assert "down: unreachable:" in result.stdout
    assert "broken: failed:" in result.stdout and "already exists" in result.stdout
    assert "fleet up: 6 targets: 1 unreachable, 1 failed, 4 ok" in result.stdout
    assert set(good.seeded_rows().values()) == {1}
    assert broken.scalar(broken.names[0], "SELECT count(*) FROM migrator_ledger") == 0

    only_down = targets_file(tmp_path / "down.toml", targets=[("down", with_password)])
    unreachable = _fleet(
        "--dir", str(fleet_migrations), "up", "--targets", str(only_down), cwd=tmp_path
    )
    assert unreachable.code == 3, unreachable.output
    assert "Sup3rSecret" not in unreachable.output


def test_the_first_failure_stops_new_targets_and_says_which_did_not_start(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path
) -> None:
    databases = make_databases(5)
    path = _second_target_broken(tmp_path, databases)
    result = _fleet(
        "--dir",
        str(fleet_migrations),
        "up",
        "--targets",
        str(path),
        "--concurrency",
        "1",
        cwd=tmp_path,
    )
    assert result.code == 4, result.output
    counts = databases.seeded_rows()
    assert counts[databases.names[0]] == 1
    assert [counts[name] for name in databases.names[2:]] == [None, None, None]
    assert f"stopped starting targets: {databases.names[1]} failed" in result.stdout
    for name in databases.names[2:]:
        assert f"{name}  not started  not started ({databases.names[1]} failed)" in result.stdout


def test_a_failed_canary_stops_the_fleet_before_the_others(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path
) -> None:
    databases = make_databases(6)
    path = _second_target_broken(tmp_path, databases)
    result = _fleet(
        "--dir",
        str(fleet_migrations),
        "up",
        "--targets",
        str(path),
        "--canary",
        "2",
        "--continue-on-error",
        cwd=tmp_path,
    )
    assert result.code == 4, result.output
    counts = databases.seeded_rows()
    assert counts[databases.names[0]] == 1
    assert all(counts[name] is None for name in databases.names[2:])
    assert "stopped starting targets: canary" in result.stdout


def test_shards_split_a_fleet_so_every_target_runs_exactly_once(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path
) -> None:
    databases = make_databases(12)
    path = targets_file(
        tmp_path / "fleet.toml", targets=[(name, databases.url(name)) for name in databases.names]
    )
    seen: list[str] = []
    for index in (1, 2, 3):
        result = _fleet(
            "--dir",
            str(fleet_migrations),
            "up",
            "--targets",
            str(path),
            "--shard",
            f"{index}/3",
            cwd=tmp_path,
        )
        assert result.code == 0, result.output
        seen += [
            line.split(":")[0] for line in result.stdout.splitlines() if ": ok: applied" in line
        ]
    assert sorted(seen) == sorted(databases.names)
    assert set(databases.seeded_rows().values()) == {1}


def test_two_fleet_runs_started_together_apply_each_migration_once_everywhere(
    tmp_path: Path, make_databases: Any, tmp_path_factory: Any
) -> None:
    databases = make_databases(12)
    slow = dict(
        {
            "001_events.up.sql": EVENTS,
            "002_seed.up.sql": "INSERT INTO events (kind) VALUES ('once'); SELECT pg_sleep(0.05);",
            "003_more.up.sql": "INSERT INTO events (kind) VALUES ('twice?');",
        }
    )
    directory = write_migrations(tmp_path / "migrations", slow)
    first_half = targets_file(
        tmp_path / "a.toml", targets=[(name, databases.url(name)) for name in databases.names[:8]]
    )
    second_half = targets_file(
        tmp_path / "b.toml", targets=[(name, databases.url(name)) for name in databases.names[4:]]
    )
    runs = [
        start_cli(
            "--dir",
            str(directory),
            "up",
            "--targets",
            str(path),
            "--concurrency",
            "3",
            cwd=tmp_path,
        )
        for path in (first_half, second_half)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert set(databases.seeded_rows().values()) == {1}
    for name in databases.names:
        assert databases.scalar(name, "SELECT count(*) FROM events WHERE kind = 'twice?'") == 1


def _slow_fleet(tmp_path: Path, databases: Any, pause: str) -> tuple[str, ...]:
    """A fleet command over ``databases`` whose second migration sleeps ``pause``
    seconds; returns its arguments."""
    directory = write_migrations(
        tmp_path / "migrations",
        {
            "001_events.up.sql": EVENTS,
            "002_seed.up.sql": (
                f"INSERT INTO events (kind) VALUES ('once'); SELECT pg_sleep({pause});"
            ),
        },
    )
    path = targets_file(
        tmp_path / "fleet.toml", targets=[(name, databases.url(name)) for name in databases.names]
    )
    return ("--dir", str(directory), "up", "--targets", str(path), "--concurrency", "2")


def test_a_fleet_killed_half_way_is_finished_by_the_same_command_exactly_once(
    tmp_path: Path, make_databases: Any
) -> None:
    databases = make_databases(10)
    args = _slow_fleet(tmp_path, databases, "0.3")
    killed = start_cli(*args, cwd=tmp_path)
    assert killed.stdout is not None
    done_before = 0
    deadline = time.monotonic() + 60
    while done_before < 3 and time.monotonic() < deadline:  # a few targets done, others running
        line = killed.stdout.readline()
        if ": ok: applied" in line:
            done_before += 1
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert done_before == 3
    partial = databases.seeded_rows()
    assert 3 <= sum(1 for count in partial.values() if count == 1) < len(databases.names)
    assert set(partial.values()) <= {None, 0, 1}  # a killed migration left nothing

    rerun = _fleet(*args, cwd=tmp_path)
    assert rerun.code == 0, rerun.output
    assert set(databases.seeded_rows().values()) == {1}
    assert set(databases.versions().values()) == {2}


def test_ctrl_c_stops_the_fleet_with_130_and_leaves_every_target_consistent(
    tmp_path: Path, make_databases: Any
) -> None:
    databases = make_databases(6)
    args = _slow_fleet(tmp_path, databases, "1")
    run = start_cli(*args, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # interrupt once a migration runs, not at start-up
        running = databases.scalar(
            databases.names[0],
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1)%' "
            "AND pid <> pg_backend_pid()",
        )
        if running:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, (out, err)
    assert "interrupted" in err
    assert set(databases.seeded_rows().values()) <= {None, 0, 1}
    rerun = _fleet(*args, cwd=tmp_path)
    assert rerun.code == 0, rerun.output
    assert set(databases.seeded_rows().values()) == {1}


def test_up_sql_status_verify_baseline_and_down_over_a_fleet(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path
) -> None:
    databases = make_databases(3)
    path = targets_file(
        tmp_path / "fleet.toml", targets=[(name, databases.url(name)) for name in databases.names]
    )
    common = ("--dir", str(fleet_migrations))
    sql = _fleet(*common, "up", "--sql", "--targets", str(path), cwd=tmp_path)
    assert sql.code == 0, sql.output
    assert sql.stdout.count("3 migrations would run") == 3
    assert "INSERT INTO events" in sql.stdout
    assert set(databases.seeded_rows().values()) == {None}

    baseline = _fleet(*common, "baseline", "1", "--targets", str(path), cwd=tmp_path)
    assert baseline.code == 0, baseline.output
    assert baseline.stdout.count("recorded 1 migration up to version 1 as applied") == 3
    for name in databases.names:  # baselined: 001 never ran, so create its table by hand
        databases.scalar(
            name, "CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY, kind text NOT NULL)"
        )

    status = _fleet(*common, "status", "--targets", str(path), "--exit-code", cwd=tmp_path)
    assert status.code == 1, status.output
    assert status.stdout.count("pending") >= 3

    up = _fleet(*common, "up", "--targets", str(path), cwd=tmp_path)
    assert up.code == 0, up.output
    (fleet_migrations / "002_seed.up.sql").write_text("INSERT INTO events (kind) VALUES ('x');")
    verify = _fleet(*common, "verify", "--targets", str(path), "--format", "json", cwd=tmp_path)
    assert verify.code == 1, verify.output
    report = json.loads(verify.stdout)
    assert {t["ok"] for t in report["targets"]} == {False}
    assert {t["state"] for t in report["targets"]} == {"checks failed"}

    down = _fleet(*common, "down", "--targets", str(path), cwd=tmp_path)
    assert down.code == 0, down.output
    assert set(databases.versions().values()) == {2}


def test_fleet_flags_without_targets_and_targets_with_a_url_are_usage_errors(
    tmp_path: Path, fleet_migrations: Path, database_url: str
) -> None:
    alone = _fleet("--dir", str(fleet_migrations), "up", "--shard", "1/2", cwd=tmp_path)
    assert alone.code == 2
    assert "need --targets" in alone.stderr
    path = targets_file(tmp_path / "fleet.toml", targets=[("a", database_url)])
    both = _fleet(
        "--dir",
        str(fleet_migrations),
        "--database-url",
        database_url,
        "up",
        "--targets",
        str(path),
        cwd=tmp_path,
    )
    assert both.code == 2
    assert "--targets and --database-url" in both.stderr


def test_targets_from_pyproject_run_the_fleet_unless_a_url_flag_names_one_database(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path, database_url: str
) -> None:
    databases = make_databases(2)
    targets_file(
        tmp_path / "fleet.toml", targets=[(name, databases.url(name)) for name in databases.names]
    )
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.migrator]\nmigrations-dir = "{fleet_migrations}"\ntargets = "fleet.toml"\n'
    )
    fleet = run_cli("up", env=NO_ENV, cwd=tmp_path)
    assert fleet.code == 0, fleet.output
    assert "fleet up: 2 targets: 2 ok" in fleet.stdout
    single = run_cli("--database-url", database_url, "up", env=NO_ENV, cwd=tmp_path)
    assert single.code == 0, single.output
    assert "applied 3 migrations" in single.stdout and "fleet" not in single.stdout


def test_a_discover_server_that_is_down_is_reported_and_the_listed_targets_still_run(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path
) -> None:
    databases = make_databases(2)
    path = targets_file(
        tmp_path / "fleet.toml",
        targets=[(name, databases.url(name)) for name in databases.names],
        discover=[
            (f"postgresql://u:hunter2pw@127.0.0.1:{dead_port()}/postgres", "SELECT 'x'", "gone/")
        ],
    )
    result = _fleet("--dir", str(fleet_migrations), "up", "--targets", str(path), cwd=tmp_path)
    assert result.code == 3, result.output
    assert "discover 1  unreachable  discover 1: cannot connect" in result.stdout
    assert "hunter2pw" not in result.output
    assert set(databases.seeded_rows().values()) == {1}


def test_a_discover_query_returning_something_else_than_names_is_reported(
    tmp_path: Path, make_databases: Any, fleet_migrations: Path, pg_server: EphemeralServer
) -> None:
    path = targets_file(
        tmp_path / "fleet.toml",
        discover=[(pg_server.dsn("postgres"), "SELECT oid FROM pg_database", "")],
    )
    result = _fleet("--dir", str(fleet_migrations), "up", "--targets", str(path), cwd=tmp_path)
    assert result.code == 2, result.output
    assert "its query returned int, not a database name" in result.stdout
