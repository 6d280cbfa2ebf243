"""The linter's verdict before a rehearsal (``migrate dry-run`` runs ``migrate lint``
first, and fails on error-level findings; ``--no-lint`` skips it).

INTEGRATION POINT with :mod:`migrator.lint`: :func:`lint_before_rehearsal` is the only
place the rehearsal calls the linter. It uses the linter's public entry point when the
package provides one (see ``_linter_entry_point``); until then the rehearsal reports
that it ran without the linter.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from migrator.config import Settings
from migrator.rehearse.report import LintSummary
from migrator.source.model import MigrationSet

#: (module, function) pairs the linter may expose, most specific first; each is
#: called as ``function(settings, migration_set)`` or ``function(paths)``.
_ENTRY_POINTS = (
    ("migrator.lint.api", "lint_migration_set"),
    ("migrator.lint.api", "lint_directory"),
    ("migrator.lint.api", "lint_paths"),
    ("migrator.lint", "lint_migration_set"),
    ("migrator.lint", "lint_directory"),
    ("migrator.lint", "lint_paths"),
)


def _linter_entry_point() -> tuple[str, Callable[..., Any]] | None:
    for module_name, function_name in _ENTRY_POINTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, function_name, None)
        if callable(function):
            return function_name, function
    return None


def _severity(finding: Any) -> str:
    severity = getattr(finding, "severity", "")
    return str(getattr(severity, "value", severity)).lower()


def _describe(finding: Any) -> str:
    for attribute in ("one_line", "describe"):
        method = getattr(finding, attribute, None)
        if callable(method):
            return str(method())
    rule = getattr(finding, "rule", "")
    rule_id = getattr(rule, "id", rule)
    where = getattr(finding, "file", "") or getattr(finding, "path", "")
    return f"{where}: {rule_id}: {getattr(finding, 'message', finding)}"


def summarise(findings: Iterable[Any]) -> LintSummary:
    """Error-level findings (listed) and the number of warnings."""
    errors: list[str] = []
    warnings = 0
    for finding in findings:
        severity = _severity(finding)
        if severity == "error":
            errors.append(_describe(finding))
        elif severity == "warning":
            warnings += 1
    return LintSummary(ran=True, errors=tuple(errors), warnings=warnings)


def lint_before_rehearsal(settings: Settings, migration_set: MigrationSet) -> LintSummary:
    """Run the linter over the migrations about to be rehearsed."""
    entry = _linter_entry_point()
    if entry is None:
        return LintSummary(
            ran=False, note="the linter is not available in this build; rehearsed without it"
        )
    name, function = entry
    if name == "lint_migration_set":
        result = function(settings, migration_set)
    elif name == "lint_directory":
        result = function(settings.migrations_dir)
    else:
        paths = [f.path for m in migration_set.migrations for f in m.files()]
        result = function(paths)
    findings = getattr(result, "findings", result)
    return summarise(findings)
