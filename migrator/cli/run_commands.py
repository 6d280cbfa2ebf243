"""Commands of the run layer."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
