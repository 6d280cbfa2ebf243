"""Global options work before or after the command name, as users type them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize("where", ["before", "after"])
def test_dir_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    missing = str(tmp_path / "nowhere")
    args = ("--dir", missing, "lint") if where == "before" else ("lint", "--dir", missing)
    result = run_cli(*args, cwd=tmp_path)
    assert result.code == 2
    assert f"{missing}: no such file or directory" in result.stderr


def test_database_url_after_the_command_is_used_and_masked(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    url = "postgresql://me:hunter2@127.0.0.1:1/db"
    result = run_cli("status", "--dir", str(tmp_path / "m"), "--database-url", url, cwd=tmp_path)
    assert result.code == 3
    assert "127.0.0.1:1" in result.stderr and "hunter2" not in result.output


def test_every_command_documents_the_options_it_accepts_after_its_name() -> None:
    for command in ("up", "down", "status", "verify", "lint", "plan", "new"):
        result = run_cli(command, "--help")
        assert result.code == 0
        assert "--dir" in result.stdout and "--database-url" in result.stdout


def test_down_steps_zero_is_a_usage_error_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    url = "postgresql://me@127.0.0.1:1/db"  # nothing listens: exit 3 if it connected
    result = run_cli("down", "--steps", "0", "--dir", str(tmp_path / "m"), "--database-url", url)
    assert result.code == 2 and "--steps" in result.stderr
