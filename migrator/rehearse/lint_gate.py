"""The linter's verdict before a rehearsal: ``migrate dry-run`` runs ``migrate lint``
over the migrations directory first (with the project's ``[tool.migrator.lint]``
options) and fails on error-level findings; ``--no-lint`` skips it."""

from __future__ import annotations

from collections.abc import Iterable

from migrator.config import Settings
from migrator.lint.findings import Finding, Severity
from migrator.rehearse.report import LintSummary


def summarise(findings: Iterable[Finding]) -> LintSummary:
    """Error-level findings, one line each (``file:line:column: rule: message``), and
    the number of warnings."""
    errors: list[str] = []
    warnings = 0
    for finding in findings:
        if finding.severity is Severity.ERROR:
            errors.append(
                f"{finding.file}:{finding.line}:{finding.column}: {finding.rule}: {finding.message}"
            )
        else:
            warnings += 1
    return LintSummary(ran=True, errors=tuple(errors), warnings=warnings)


def lint_before_rehearsal(settings: Settings) -> LintSummary:
    """Lint the migrations directory as ``migrate lint`` would."""
    from migrator.lint import run_lint

    return summarise(run_lint(settings).findings)
