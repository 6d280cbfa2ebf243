"""Lint SQL in memory, as a migration directory would: earlier migrations replayed
into the catalog, then the file under test linted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from migrator.lint.engine import FileLinter, LintReport
from migrator.lint.findings import Finding
from migrator.lint.live import LiveFacts
from migrator.lint.options import LintOptions
from migrator.lint.targets import replay
from migrator.source import load_file
from migrator.sql.catalog import Catalog


def lint_sql(
    sql: str,
    earlier: Sequence[str] = (),
    *,
    options: LintOptions | None = None,
    pg_version: int | None = None,
    facts: LiveFacts | None = None,
    down: str | None = None,
) -> list[Finding]:
    """Findings of ``sql`` as migration N+1 after the ``earlier`` migrations. With
    ``down``, lint that text as the down file of the migration ``sql`` instead."""
    options = options or LintOptions()
    if pg_version is not None:
        options = replace(options, pg_version=pg_version)
    catalog = Catalog()
    for number, text in enumerate(earlier, start=1):
        earlier_file = load_file(Path(f"{number:04d}_earlier.up.sql"), data=text.encode())
        replay(earlier_file, catalog, f"{number:04d}.up")
    report = LintReport(options=options)
    linter = FileLinter(options, facts, report)
    number = len(earlier) + 1
    up = load_file(Path(f"{number:04d}_under_test.up.sql"), data=sql.encode())
    if down is None:
        return linter.lint(up, catalog, f"{number:04d}.up")
    replay(up, catalog, f"{number:04d}.up")
    down_file = load_file(Path(f"{number:04d}_under_test.down.sql"), "down", down.encode())
    return linter.lint(down_file, catalog, f"{number:04d}.down", also_new=(f"{number:04d}.up",))


def lint_migrations(blocks: Sequence[str], **kwargs: object) -> list[list[Finding]]:
    """Findings of each of several consecutive migrations."""
    return [lint_sql(block, blocks[:index], **kwargs) for index, block in enumerate(blocks)]  # type: ignore[arg-type]
