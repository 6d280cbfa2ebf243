"""A large directory is linted by two processes (the child replays the first part and
lints the rest): the report is the one a single process gives."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import migrator.lint.targets as targets
from migrator.lint.forked import AVAILABLE, Forked
from migrator.lint.options import LintOptions
from migrator.lint.render import render_json

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="needs fork and a second core")


def _directory(root: Path) -> Path:
    migrations = root / "migrations"
    migrations.mkdir()
    for number in range(1, 13):
        (migrations / f"{number:04d}_step.up.sql").write_text(
            f"CREATE TABLE t{number} (id serial PRIMARY KEY, payload json);\n"
            f"CREATE INDEX t{number - 1}_payload_idx ON t{number - 1} (id);\n"
            f"ALTER TABLE t{number - 1} ADD COLUMN c{number} int NOT NULL;\n"
            f"ALTER TABLE t{number} ADD COLUMN c{number} int NOT NULL;\n"
        )
        (migrations / f"{number:04d}_step.down.sql").write_text(
            f"DROP TABLE t{number};\nDROP TABLE t{number - 1};\n"
        )
    return migrations


def _lint(migrations: Path, paths: list[Path]) -> str:
    report = targets.lint_paths(paths, migrations_dir=migrations, options=LintOptions())
    assert report.files and not report.internal_errors
    return render_json(report)


def _split_and_unsplit(
    migrations: Path, paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str, int]:
    """The JSON of one process, of two, and how many children were started."""
    monkeypatch.setattr(targets, "PARALLEL_MIN_FILES", 10**6)
    alone = _lint(migrations, paths)
    monkeypatch.setattr(targets, "PARALLEL_MIN_FILES", 4)
    children: list[Forked[object]] = []

    def counted(work: Callable[[], object]) -> Forked[object]:
        children.append(Forked(work))
        return children[-1]

    monkeypatch.setattr(targets, "Forked", counted)
    return alone, _lint(migrations, paths), len(children)


def test_two_processes_report_what_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone, split, children = _split_and_unsplit(_directory(tmp_path), [], monkeypatch)
    assert children == 1
    assert split == alone
    assert '"rule": "add-column-required"' in alone and '"rule": "prefer-bigint"' in alone


def test_only_wanted_files_are_linted_on_either_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = _directory(tmp_path)
    wanted = [
        migrations / f"{n:04d}_step.{d}.sql" for n in (2, 3, 5, 9, 11) for d in ("up", "down")
    ]
    alone, split, children = _split_and_unsplit(migrations, wanted, monkeypatch)
    assert children == 1
    assert split == alone
    assert "0009_step.up.sql" in alone and "0004_step" not in alone


def test_a_failing_child_leaves_the_work_to_the_parent() -> None:
    def fail() -> int:
        raise RuntimeError("boom")

    assert Forked(fail).result() is None
    assert Forked(lambda: 41 + 1).result() == 42


def test_a_cancelled_child_is_stopped_and_reaped() -> None:
    def forever() -> int:
        while True:
            pass

    child = Forked(forever)
    pid = child.pid
    assert pid
    child.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert child.result() is None
