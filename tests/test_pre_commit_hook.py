"""The pre-commit configuration the README documents, run by the real `pre-commit`
against a local clone of this repository: it installs this project (not PyPI's
unrelated `migrator`), lints the migrations directory, and leaves other SQL alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]


def _documented_config(markdown: Path) -> dict[str, object]:
    """The ```yaml block of ``markdown`` that uses the ``migrate-lint`` hook from a
    repository (not ``repo: local``)."""
    for block in re.findall(r"```yaml\n(.*?)```", markdown.read_text(), re.DOTALL):
        config = yaml.safe_load(block)
        if isinstance(config, dict) and any(
            repo.get("repo") != "local"
            and any(h.get("id") == "migrate-lint" for h in repo["hooks"])
            for repo in config.get("repos", [])
        ):
            return config
    raise AssertionError(f"{markdown.name} documents no pre-commit configuration")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _clone_of_working_tree(target: Path) -> str:
    """A git repository at ``target`` holding this checkout's tracked files as they are
    now (uncommitted edits included); returns its commit."""
    try:
        listed = _git(REPO, "ls-files", "-z")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"this checkout is not a git repository with git available ({exc})")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "migrator as checked out")
    return _git(target, "rev-parse", "HEAD")


def _pre_commit(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    # pip installs the hook's environment with this machine's own pip configuration
    environment = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    for name in ("DATABASE_URL", "MIGRATOR_DIR", "VIRTUAL_ENV"):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_hook_lints_the_migrations_directory_not_every_sql_file() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    files = re.compile(hook["files"])
    assert files.search("database/migrations/001_users.up.sql")
    assert not files.search("scripts/fix_emails.sql")
    assert not files.search("database/seeds/users.sql")
    assert hook["entry"] == "migrate lint" and hook["language"] == "python"


@pytest.mark.slow  # pre-commit builds a virtualenv and installs migrator in it: ~40 s
def test_the_readme_pre_commit_configuration_installs_this_project_and_lints_migrations(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "migrator"
    clone.mkdir()
    commit = _clone_of_working_tree(clone)

    config = _documented_config(REPO / "README.md")
    (hook_repo,) = [repo for repo in config["repos"] if repo["repo"] != "local"]  # type: ignore[attr-defined]
    hook_repo["repo"], hook_repo["rev"] = str(clone), commit

    project = tmp_path / "project"
    migrations = project / "database" / "migrations"
    migrations.mkdir(parents=True)
    (project / "scripts").mkdir()
    (migrations / "001_users.up.sql").write_text("CREATE TABLE users (id int, email text);\n")
    (migrations / "001_users.down.sql").write_text("DROP TABLE users;\n")
    (migrations / "002_index.up.sql").write_text("CREATE INDEX users_email ON users (email);\n")
    (migrations / "002_index.down.sql").write_text("DROP INDEX users_email;\n")
    # not a migration: lints with an error if it were taken for one (unbatched-backfill)
    (project / "scripts" / "fix_emails.sql").write_text("UPDATE users SET email = lower(email);\n")
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    _git(project, "init", "-q")
    _git(project, "add", "-A")

    failing = _pre_commit(project, tmp_path / "pre-commit-home")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "002_index.up.sql:1:1: error [index-not-concurrent]" in failing.stdout
    assert "fix_emails" not in failing.stdout
    assert "unbatched-backfill" not in failing.stdout

    (migrations / "002_index.up.sql").unlink()
    (migrations / "002_index.down.sql").unlink()
    _git(project, "add", "-A")
    passing = _pre_commit(project, tmp_path / "pre-commit-home")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert re.search(r"migrate lint\.+Passed", passing.stdout), passing.stdout
