"""What reaches the user when something goes wrong that no error class describes: one
line and a documented exit code, the traceback only with ``--verbose``."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator import __version__
from migrator.errors import ExitCode
from migrator.sql.catalog import Catalog
from tests.helpers import run_cli


def _migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "001_t.up.sql").write_text("CREATE TABLE t (id int);\n")
    (directory / "001_t.down.sql").write_text("DROP TABLE t;\n")
    return directory


def _broken_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the linter: the catalog fails on every file."""

    def fail(self: Catalog, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\non two lines")

    monkeypatch.setattr(Catalog, "begin_file", fail)


def test_an_unexpected_exception_is_one_line_and_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _migrations(tmp_path)
    _broken_replay(monkeypatch)
    result = run_cli("lint", "--no-cache", "--dir", str(directory), cwd=tmp_path)
    assert result.code == ExitCode.INTERNAL == 70
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("internal error: RuntimeError: boom on two lines")
    assert f"migrate {__version__}" in line and "--verbose" in line


def test_verbose_adds_the_traceback_and_keeps_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _migrations(tmp_path)
    _broken_replay(monkeypatch)
    result = run_cli("--verbose", "lint", "--no-cache", "--dir", str(directory), cwd=tmp_path)
    assert result.code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("internal error: RuntimeError")


@pytest.mark.parametrize(
    ("args", "traceback"),
    [
        (["status", "-v"], False),  # status's own -v lists ignored files, nothing more
        (["status", "--verbose"], False),
        (["-v", "status"], True),  # the global --verbose
    ],
)
def test_only_the_global_verbose_shows_tracebacks(
    tmp_path: Path, args: list[str], traceback: bool
) -> None:
    directory = _migrations(tmp_path)
    (directory / "002_x.up.sql").mkdir()  # an error any command meets first

    url = "postgresql://nobody@127.0.0.1:1/nothing"  # never reached
    result = run_cli(*args, "--dir", str(directory), "--database-url", url, cwd=tmp_path)

    assert result.code == 2, result.output
    assert ("Traceback (most recent call last)" in result.stderr) is traceback
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")
    assert "is a directory, not a file" in result.stderr


def test_a_refused_file_operation_names_the_file_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import migrator.runner.scaffold as scaffold

    def refuse(directory: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(directory / "001_x.up.sql"))

    monkeypatch.setattr(scaffold, "create_migration", refuse)
    directory = tmp_path / "m"
    result = run_cli("new", "x", "--dir", str(directory), cwd=tmp_path)
    assert result.code == ExitCode.USAGE
    assert result.stderr == f"error: {directory / '001_x.up.sql'}: Permission denied\n"


def test_new_into_a_path_that_is_a_file_says_so(tmp_path: Path) -> None:
    a_file = tmp_path / "migrations"
    a_file.write_text("")
    result = run_cli("new", "x", "--dir", str(a_file), cwd=tmp_path)
    assert result.code == 2
    assert f"{a_file} is a file, not a migrations directory" in result.stderr
    assert a_file.read_text() == ""
