"""Helpers for tests that need migration files and a database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_migrations(directory: Path, files: Mapping[str, str]) -> Path:
    """Write ``{"001_name.up.sql": "...", ...}`` into ``directory``; return it.

    The directory is created if needed; existing files of the same name are replaced.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory
