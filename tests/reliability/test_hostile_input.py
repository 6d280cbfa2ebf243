"""Every hostile or broken input (:mod:`tests.reliability.hostile_cases`) through every
command that reads it: the documented exit code, one clear ``error:`` line, no
traceback, no password in any output, and the database (schema, ledger, history,
relations in every schema, roles) exactly as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from migrator.ephemeral import EphemeralServer
from migrator.schema.model import Schema
from tests.helpers import Result
from tests.reliability.database_state import ScratchDatabases, full_ledger_rows, schema_of
from tests.reliability.hostile_cases import CASES, COMMANDS, Case
from tests.reliability.hostile_scene import APPLIED, PASSWORD, new_scene
from tests.reliability.processes import run_in_process
from tests.reliability.reference import References

PASSWORD_ROLE = "reliability_pw_role"
ROLE_PASSWORD = "Role-Right-Pw-5120"
WRONG_PASSWORD = "Role-Wrong-Pw-8813"
SECRETS = (PASSWORD, PASSWORD.replace("@", "%40"), ROLE_PASSWORD, WRONG_PASSWORD)


class Baseline:
    """A database with the first two migrations applied, cloned from a pristine copy;
    a case that changed it (a bug) gets a new clone, so the next case starts clean."""

    def __init__(self, databases: ScratchDatabases, pristine_url: str) -> None:
        self.databases = databases
        self.pristine_name = pristine_url.rsplit("/", 1)[1]
        self.pristine = snapshot(pristine_url)
        self.database_url = databases.create(self.pristine_name)

    @property
    def wrong_password_url(self) -> str:
        parts = urlsplit(self.database_url)
        return (
            f"postgresql://{PASSWORD_ROLE}:{WRONG_PASSWORD}@{parts.hostname}:{parts.port}"
            f"{parts.path}"
        )

    def clean(self) -> tuple[Schema, list[Any], list[Any], list[Any]]:
        """Its snapshot, after replacing it with a new clone if it differs from the
        pristine copy."""
        current = snapshot(self.database_url)
        if current == self.pristine:
            return current
        self.databases.drop(self.database_url)
        self.database_url = self.databases.create(self.pristine_name)
        return snapshot(self.database_url)


@pytest.fixture(scope="module")
def baseline(
    pg_server: EphemeralServer, references: References, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Baseline]:
    """The baseline database, and a role that must log in with a password."""
    databases: ScratchDatabases = references.databases
    pristine_url = databases.create()
    directory = tmp_path_factory.mktemp("baseline") / "migrations"
    directory.mkdir()
    for name, text in APPLIED.items():
        (directory / name).write_text(text)
    applied = run_in_process(directory, pristine_url, "up")
    assert applied.code == 0, applied.output

    assert pg_server.data_dir is not None
    hba = pg_server.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,))
        if not exists.fetchone():
            conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN")  # type: ignore[arg-type]
        conn.execute(f"ALTER ROLE {PASSWORD_ROLE} PASSWORD '{ROLE_PASSWORD}'")  # type: ignore[arg-type]
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield Baseline(databases, pristine_url)
    finally:
        hba.write_text(original)
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def snapshot(database_url: str) -> tuple[Schema, list[Any], list[Any], list[Any]]:
    """Schema, every ledger and history row, every relation of every schema, roles."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        relations = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
        ).fetchall()
        roles = conn.execute("SELECT rolname FROM pg_roles ORDER BY 1").fetchall()
    return schema_of(database_url), full_ledger_rows(database_url), relations, roles


def commands() -> dict[str, tuple[str, ...]]:
    """The commands of :data:`COMMANDS` that the CLI has."""
    from migrator.cli import COMMAND_MODULES

    return {name: args for name, args in COMMANDS.items() if args[0] in COMMAND_MODULES}


def lint_names(case: Case) -> str:
    """What lint's error finding must name: ``says_for["lint"]``, else the file the
    case's phrase names, else the phrase."""
    if "lint" in case.says_for:
        return case.says_for["lint"]
    first = case.says.split(":")[0]
    return first if first.endswith(".sql") else case.says


def check_result(case: Case, command: str, result: Result) -> None:
    where = f"{case.id} / {command}: {result.output!r}"
    for secret in SECRETS:
        assert secret not in result.output, where
    assert "Traceback" not in result.output, where
    assert result.code == case.codes[command], where
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    if result.code == 0:
        assert errors == [], where
        return
    if result.code == 1 and command in ("lint", "verify"):
        # findings on stdout: lint names the problem, verify the drift
        assert len(errors) <= 1, where
        if command == "lint":
            named = lint_names(case)
            lines = result.stdout.splitlines()
            assert any("error [" in line and named in line for line in lines), where
        else:
            assert "drift" in result.stdout, where
        return
    # refused before anything ran: one line, and it says what is wrong; several
    # problems are that line, then one indented line each (and advice in brackets)
    first, *rest = result.stderr.strip().splitlines()
    assert len(errors) == 1 and first == errors[0], where
    if rest:
        listed = rest[:-1] if rest[-1].startswith("(") else rest
        assert first.endswith(":") and listed, where
        assert all(line.startswith("  ") for line in listed), where
    assert case.says_for.get(command, case.says) in result.stderr, where


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input(case: Case, tmp_path: Path, baseline: Baseline) -> None:
    before = baseline.clean()
    scene = new_scene(tmp_path, baseline.database_url)
    scene.wrong_password_url = baseline.wrong_password_url
    with scene.resources:
        case.prepare(scene)
        results = {
            command: scene.run(*args, *(case.flags if command in case.flag_commands else ()))
            for command, args in commands().items()
        }
    failures = []
    for command, result in results.items():
        try:
            check_result(case, command, result)
        except AssertionError as failure:
            failures.append(str(failure).split("\n")[0])
    assert not failures, "\n".join(failures)
    assert snapshot(baseline.database_url) == before


def test_the_corpus_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
