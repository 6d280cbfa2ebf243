"""Startup: importing the command line loads click and the settings, no layer.

Every command imports its layer inside its function, so ``migrate --version`` and
``migrate lint`` do not pay for the planner, the runner or the database driver.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

import migrator.cli

#: modules (and packages, with everything under them) that ``import migrator.cli`` and
#: ``migrate --version`` must not load
HEAVY = (
    "asyncio",
    "asyncpg",
    "pglast",
    "migrator.plan",
    "migrator.lint",
    "migrator.runner",
    "migrator.rehearse",
    "migrator.db",
    "migrator.schema",
    "migrator.sql",
    "migrator.source",
)

_PROBE = """
import json, sys
{body}
print(json.dumps(sorted(sys.modules)))
"""


def _printed(body: str) -> list[Any]:
    """What a fresh interpreter running ``body`` prints (one JSON value a line); the
    last value is the sorted list of loaded modules."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in completed.stdout.strip().splitlines()]


def _loaded(body: str) -> list[str]:
    modules: list[str] = _printed(body)[-1]
    return modules


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_importing_the_cli_loads_no_layer() -> None:
    modules = _loaded("import migrator.cli")
    assert "click" in modules
    assert _heavy(modules) == []


def test_version_loads_no_layer() -> None:
    body = (
        "import contextlib, io, migrator.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        migrator.cli.main(['--version'])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "assert 'version' in out.getvalue()\n"
    )
    assert _heavy(_loaded(body)) == []


def test_every_command_is_registered_without_its_layer() -> None:
    body = (
        "import click, migrator.cli\n"
        "print(json.dumps(migrator.cli.cli.list_commands(click.Context(migrator.cli.cli))))\n"
        "print(json.dumps(sorted(migrator.cli.cli.all_commands())))\n"
    )
    listed, loaded, modules = _printed(body)
    for command in ("new", "up", "down", "status", "verify", "lint", "rules", "plan", "dry-run"):
        assert command in listed
    assert listed == loaded
    assert _heavy(modules) == []


def test_the_command_table_names_every_command_of_each_module() -> None:
    by_module: dict[str, list[str]] = {}
    for name, module in migrator.cli.COMMAND_MODULES.items():
        by_module.setdefault(module, []).append(name)
    for module, names in by_module.items():
        defined = [command.name for command in importlib.import_module(module).COMMANDS]
        assert sorted(names) == sorted(str(name) for name in defined), module


def test_a_command_loads_its_own_module_only() -> None:
    body = (
        "import contextlib, io, migrator.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        migrator.cli.main(['rules'])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
    )
    modules = _loaded(body)
    assert "migrator.cli.lint_commands" in modules
    others = set(migrator.cli.COMMAND_MODULES.values()) - {"migrator.cli.lint_commands"}
    assert others.isdisjoint(modules)
