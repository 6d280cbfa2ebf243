"""The CI snippets of docs/ci.md, read as CI reads them: every `pip install` installs
this project, every `migrate` command parses with this CLI, and the jobs do what the
page says (a lint failure does not skip the rehearsal, fork pull requests do not fail
on a read-only token, GitLab rehearses once)."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from packaging.requirements import Requirement

from migrator.cli import cli

REPO = Path(__file__).resolve().parents[1]
CI_DOC = REPO / "docs" / "ci.md"
DISTRIBUTION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
_OPERATORS = {"&&", "||", ";", "|", "&"}


def _yaml_blocks(markdown: Path) -> list[Any]:
    return [
        yaml.safe_load(block)
        for block in re.findall(r"```yaml\n(.*?)```", markdown.read_text(), re.DOTALL)
    ]


def _github_workflow() -> dict[str, Any]:
    (workflow,) = [b for b in _yaml_blocks(CI_DOC) if isinstance(b, dict) and "jobs" in b]
    return workflow


def _gitlab_job() -> tuple[dict[str, Any], dict[str, Any]]:
    (config,) = [b for b in _yaml_blocks(CI_DOC) if isinstance(b, dict) and "migrations" in b]
    return config, config["migrations"]


def _shell_lines() -> Iterator[str]:
    """Every shell line a documented CI job runs."""
    for step in _github_workflow()["jobs"]["migrations"]["steps"]:
        yield from str(step.get("run", "")).splitlines()
    _, job = _gitlab_job()
    for key in ("before_script", "script"):
        for entry in job[key]:
            yield from str(entry).splitlines()


def _simple_commands(line: str) -> Iterator[list[str]]:
    """``a x && b > f || true`` -> ``[a, x]``, ``[b]``, ``[true]`` (redirections dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    command: list[str] = []
    redirect = False
    for token in lexer:
        if token in _OPERATORS:
            if command:
                yield command
            command, redirect = [], False
        elif token in {">", ">>", "<"}:
            redirect = True
        elif redirect:
            redirect = False
        else:
            command.append(token)
    if command:
        yield command


def _commands(program: str) -> list[list[str]]:
    return [
        command[1:]
        for line in _shell_lines()
        for command in _simple_commands(line)
        if command[0] == program
    ]


def _parse(command: click.Command, name: str, args: list[str], parent: Any = None) -> Any:
    """The click context ``migrate ARGS`` would run in; raises on an unknown option, a
    bad choice, a missing argument."""
    context = command.make_context(name, args, parent=parent)
    if isinstance(command, click.Group):
        rest = [*getattr(context, "_protected_args", []), *context.args]
        sub_name, sub, sub_args = command.resolve_command(context, rest)
        assert sub is not None and sub_name is not None
        return _parse(sub, sub_name, sub_args, context)
    return context


def test_the_snippets_run_migrate_commands_this_cli_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _commands("migrate")
    monkeypatch.chdir(tmp_path)  # the repository the job runs in: its schema files exist
    for args in commands:
        for arg in args:
            if arg.endswith(".sql"):
                (tmp_path / arg).touch()
    names = {" ".join(args[:1]) for args in commands}
    assert {"lint", "dry-run", "schema"} <= names
    for args in commands:
        try:
            context = _parse(cli, "migrate", list(args))
        except click.UsageError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"docs/ci.md runs `migrate {shlex.join(args)}`: {exc.format_message()}")
        assert context.command.name in {"lint", "dry-run", "verify"}


def test_every_install_line_installs_this_project() -> None:
    installs = _commands("pip")
    assert installs, "docs/ci.md installs migrator somewhere"
    workflow = _github_workflow()
    gitlab, _ = _gitlab_job()
    for variables in (workflow["env"], gitlab["variables"]):
        requirement = Requirement(variables["MIGRATOR"])
        assert requirement.name == DISTRIBUTION
        assert requirement.url and requirement.url.startswith("git+")
    for args in installs:
        assert args == ["install", "$MIGRATOR"], args


@pytest.mark.parametrize(
    "page",
    [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / ".pre-commit-hooks.yaml"],
    ids=lambda path: path.name,
)
def test_no_page_tells_to_install_pypis_unrelated_migrator(page: Path) -> None:
    text = page.read_text()
    for line in text.splitlines():  # only the warning against it may name it
        if re.search(r"pip install\s+['\"]?migrator(?![\w-])", line):
            assert "unrelated" in line, line
    assert "additional_dependencies: [migrator]" not in text
    assert "rev: v0.1.0" not in text  # no such tag exists


def test_github_lint_failure_does_not_skip_the_dry_run_nor_its_comment() -> None:
    steps = _github_workflow()["jobs"]["migrations"]["steps"]
    lint_at = next(i for i, s in enumerate(steps) if "--format github" in s.get("run", ""))
    after = steps[lint_at + 1 :]
    assert after
    for step in after:
        assert "!cancelled()" in step.get("if", ""), step


def test_github_steps_that_write_to_the_pull_request_never_fail_a_fork_pull_request() -> None:
    workflow = _github_workflow()
    assert "head.repo.full_name == github.repository" in workflow["env"]["SAME_REPOSITORY"]
    writers = [
        step
        for step in workflow["jobs"]["migrations"]["steps"]
        if str(step.get("uses", "")).startswith(
            ("github/codeql-action/upload-sarif", "marocchino/sticky-pull-request-comment")
        )
    ]
    assert len(writers) == 2
    for step in writers:
        assert "env.SAME_REPOSITORY == 'true'" in step["if"]
        assert step["continue-on-error"] is True


def test_gitlab_rehearses_once_and_renders_that_run_twice() -> None:
    _, job = _gitlab_job()
    dry_runs = [
        command
        for entry in job["script"]
        for command in _simple_commands(entry)
        if command[:2] == ["migrate", "dry-run"]
    ]
    assert len(dry_runs) == 1
    (dry_run,) = dry_runs
    assert "--report" in dry_run and "json:dry-run.json" in dry_run
    assert "--output" in dry_run and "dry-run.md" in dry_run
    assert set(job["artifacts"]["paths"]) == {"dry-run.md", "dry-run.json"}
    lint = next(e for e in job["script"] if str(e).startswith("migrate lint ||"))
    assert job["script"].index(lint) < job["script"].index(next(
        e for e in job["script"] if str(e).startswith("migrate dry-run")
    ))  # fmt: skip
