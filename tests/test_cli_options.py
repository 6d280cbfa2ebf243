"""Global options work before or after the command name, as users type them."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from migrator import __version__
from migrator.cli import cli
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[1]


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
    for command in ("up", "down", "status", "verify", "lint", "baseline", "repair"):
        result = run_cli(command, "--help")
        assert result.code == 0
        assert "--dir" in result.stdout and "--database-url" in result.stdout
        assert "--wait" in result.stdout


@pytest.mark.parametrize("command", [("new",), ("rules",), ("plan",), ("schema", "verify")])
def test_commands_that_never_connect_do_not_offer_connection_options(
    command: tuple[str, ...],
) -> None:
    result = run_cli(*command, "--help")
    assert result.code == 0
    assert "--dir" in result.stdout
    assert "--database-url" not in result.stdout and "--wait" not in result.stdout


def _all_commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None, name
                walk(sub, f"{path} {name}".strip())

    walk(cli, "")
    return found


def test_every_option_has_help_text_and_a_named_metavar() -> None:
    for path, command in _all_commands():
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            assert param.help, f"migrate {path} {param.opts[0]} has no help text"
            if not param.is_flag and not isinstance(param.type, click.Choice):
                metavar = param.make_metavar(click.Context(command))
                assert metavar not in {"INTEGER", "INTEGER RANGE", "TEXT"}, (path, param.opts)


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    result = run_cli(flag)
    assert result.code == 0
    assert result.stdout == f"migrate, version {__version__}\n"


def test_down_steps_zero_is_a_usage_error_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    url = "postgresql://me@127.0.0.1:1/db"  # nothing listens: exit 3 if it connected
    result = run_cli("down", "--steps", "0", "--dir", str(tmp_path / "m"), "--database-url", url)
    assert result.code == 2 and "--steps" in result.stderr


def test_shell_completion_works_as_the_readme_documents(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    assert "_MIGRATE_COMPLETE=bash_source migrate" in (REPO / "README.md").read_text()
    environment = {
        **os.environ,
        "_MIGRATE_COMPLETE": "bash_complete",
        "COMP_WORDS": "migrate dry-run --for",
        "COMP_CWORD": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "migrator"],
        env=environment,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain,--format"]
