"""A click group whose commands are imported when one of them is asked for.

``migrate lint`` imports the module of ``lint`` and no other command module: each
command's options and help are built only by the run that needs them. ``--help`` asks
for every command (to print its one-line help), so it imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """``modules`` maps each command name to the module whose ``COMMANDS`` list defines
    it; ``prepare`` is applied to each command of a module when the module is loaded."""

    def __init__(
        self,
        *args: Any,
        modules: Mapping[str, str],
        prepare: Callable[[click.Command], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._modules = dict(modules)
        self._prepare = prepare
        self._loaded: set[str] = set()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._modules})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            module = self._modules.get(cmd_name)
            if module is None:  # unknown: every name, for the error's "did you mean"
                self.all_commands()
            else:
                self._load(module)
        return self.commands.get(cmd_name)

    def all_commands(self) -> dict[str, click.Command]:
        """Every command, each module loaded (for documentation and tests)."""
        for module in set(self._modules.values()):
            self._load(module)
        return dict(self.commands)

    def _load(self, module_name: str) -> None:
        if module_name in self._loaded:
            return
        self._loaded.add(module_name)
        for command in importlib.import_module(module_name).COMMANDS:
            self._prepare(command)
            self.add_command(command)
