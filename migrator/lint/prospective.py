"""Lint migration files before they exist: ``migrate plan`` checks what it would write.

The files are linted exactly as ``migrate lint`` would lint them once written, against
the schema the directory's other migrations build, but in a copy of the directory in a
temporary folder, so the real one is never touched. Findings name the real paths.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from migrator.lint.engine import LintReport
from migrator.lint.options import LintOptions
from migrator.lint.targets import lint_paths


def lint_prospective(
    migrations_dir: Path,
    files: Sequence[tuple[Path, str]],
    options: LintOptions,
    *,
    removed: Sequence[Path] = (),
) -> LintReport:
    """Lint ``files`` (``(path in migrations_dir, text)``) as if they were written into
    ``migrations_dir`` and the ``removed`` files deleted from it."""
    if not files:
        return LintReport(options=options)
    gone = {path.resolve() for path in removed}
    with tempfile.TemporaryDirectory(prefix="migrator-plan-lint-") as scratch:
        copy = Path(scratch) / "migrations"
        copy.mkdir()
        if migrations_dir.is_dir():
            for entry in migrations_dir.iterdir():
                if entry.is_file() and entry.resolve() not in gone:
                    shutil.copyfile(entry, copy / entry.name)
        targets = []
        for path, text in files:
            (copy / path.name).write_text(text)
            targets.append(copy / path.name)
        report = lint_paths(targets, migrations_dir=copy, options=options)
        shown = {path.name: str(path) for path, _ in files}
        real = str(migrations_dir)
        report.findings[:] = [
            replace(
                finding,
                file=shown.get(Path(finding.file).name, finding.file),
                help=finding.help.replace(str(copy), real),
            )
            for finding in report.findings
        ]
    return report
