"""The shared corpora the judged sample comes from, and their findings.

The corpora live beside the repository (``../shared/corpora``, or ``MIGRATOR_CORPORA``);
each is linted as a migrations directory, with the default options (PostgreSQL 15, the
runner's 5s lock timeout). The original-layout histories whose files the directory
discovery reads as they are (``.up.sql`` / ``.down.sql`` pairs) are linted too; the
others (Diesel folders, goose annotations, Flyway names) need layout detection first.
"""

from __future__ import annotations

import os
from pathlib import Path

from migrator.lint.findings import Finding
from migrator.lint.options import LintOptions
from migrator.lint.targets import lint_paths

REPOSITORY = Path(__file__).resolve().parents[3]
#: relative to the repository, as the brief of issue 17 asks
CORPORA = Path(os.environ.get("MIGRATOR_CORPORA", REPOSITORY / ".." / "shared" / "corpora"))
#: corpus folders (below CORPORA) linted for the sample
NAMES = (
    "lemmy",
    "sourcegraph_codeintel",
    "temporal_visibility",
    "original/sqlx_svix-webhooks",
    "original/golang-migrate_pocket-id",
)


def available() -> bool:
    return all((CORPORA / name).is_dir() for name in NAMES)


def lint_corpus(name: str) -> list[Finding]:
    """Findings of one corpus, with ``file`` relative to the corpora folder."""
    directory = (CORPORA / name).resolve()
    report = lint_paths([directory], migrations_dir=directory, options=LintOptions())
    root = str(CORPORA.resolve()) + "/"
    findings = []
    for finding in report.findings:
        path = str(Path(finding.file).resolve())
        findings.append(_relative(finding, path.removeprefix(root)))
    return findings


def _relative(finding: Finding, file: str) -> Finding:
    from dataclasses import replace

    return replace(finding, file=file)
