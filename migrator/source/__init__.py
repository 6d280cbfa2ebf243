"""Discovers and parses migration files into immutable values. No database."""

from migrator.source.discovery import discover, load_file, require_runnable
from migrator.source.model import Directives, FileProblem, Migration, MigrationFile, MigrationSet

__all__ = [
    "Directives",
    "FileProblem",
    "Migration",
    "MigrationFile",
    "MigrationSet",
    "discover",
    "load_file",
    "require_runnable",
]
