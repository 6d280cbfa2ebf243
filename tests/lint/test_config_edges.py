"""`[tool.migrator.lint]` at its edges: the documented sample, a key spelled two ways,
path patterns when `migrate lint` runs from a subdirectory."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def _project(tmp_path: Path, lint_table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.migrator]\nmigrations-dir = "db/migrations"\n[tool.migrator.lint]\n{lint_table}'
    )
    migrations = tmp_path / "db" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_a.up.sql").write_text("DROP TABLE old;\n")
    (migrations / "0002_b.up.sql").write_text("DROP TABLE older;\n")
    return tmp_path


def test_an_empty_include_list_runs_every_rule(tmp_path: Path) -> None:
    # docs/lint.md shows `include = []` in its sample: copying it must not turn the
    # linter into one that checks nothing and passes
    project = _project(tmp_path, "include = []\n")
    result = run_cli("lint", cwd=project)
    assert result.code == 1, result.output
    assert "[drop-table]" in result.stdout


def test_a_key_given_in_both_spellings_is_a_usage_error(tmp_path: Path) -> None:
    project = _project(tmp_path, "pg-version = 12\npg_version = 13\n")
    result = run_cli("lint", cwd=project)
    assert result.code == 2
    assert "pg_version is given twice" in result.stderr
    assert str(project / "pyproject.toml") in result.stderr


def test_exclude_paths_are_relative_to_pyproject_wherever_lint_runs(tmp_path: Path) -> None:
    project = _project(tmp_path, 'exclude_paths = ["db/migrations/0002_*"]\n')
    deeper = project / "src" / "app"
    deeper.mkdir(parents=True)
    for cwd in (project, deeper, project / "db"):
        result = run_cli("lint", "--format", "json", cwd=cwd)
        assert result.code == 1, (cwd, result.output)
        assert "0001_a.up.sql" in result.stdout, cwd
        assert "0002_b.up.sql" not in result.stdout, cwd
