"""The migrations the planner writes pass the linter with no error-level finding (the
statements it breaks on purpose carry a lint-ignore with the reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config import Settings
from migrator.lint import run_lint
from tests.plan.scenario import Project
from tests.plan.test_plans_on_postgres import BASE, CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_plan_has_no_error_level_finding(case: Case, tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(case.change + ";\n")

    report = run_lint(Settings(migrations_dir=project.directory), [f.path for f in result.files])

    errors = [
        f"{f.file}:{f.line} [{f.rule}] {f.message}"
        for f in report.findings
        if f.severity == "error"
    ]
    assert errors == []
    assert report.files == len(result.files)
