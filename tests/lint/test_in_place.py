"""A file linted in place reads only the migrations up to its own (later ones are only
listed): its findings are the ones a read of the whole directory gives, whatever the
later files hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import migrator.lint.targets as targets
from migrator.lint.options import LintOptions
from migrator.lint.render import render_json
from migrator.source import discover

_LATER_FILES: dict[str, bytes | None] = {
    "not UTF-8": b"SELECT '\xff';\n",
    "a NUL byte": b"SELECT 1;\x00\n",
    "a named pipe": None,
    "a syntax error": b"ALTER TABLE a ADD COLUMN;\n",
    "a fine migration": b"ALTER TABLE a ADD COLUMN c int NOT NULL;\n",
}


def _directory(root: Path, later: bytes | None) -> Path:
    root.mkdir()
    (root / "0001_a.up.sql").write_text("CREATE TABLE a (id int PRIMARY KEY);\n")
    (root / "0001_a.down.sql").write_text("DROP TABLE a;\nCREATE TABLE z (id int PRIMARY KEY);\n")
    (root / "0002_b.up.sql").write_text(
        "ALTER TABLE a ADD COLUMN b int NOT NULL;\nCREATE INDEX a_b ON a (b);\n"
    )
    (root / "0002_b.down.sql").write_text("ALTER TABLE a DROP COLUMN b;\n")
    if later is None:
        os.mkfifo(root / "0003_c.up.sql")
    else:
        (root / "0003_c.up.sql").write_bytes(later)
    (root / "0003_c.down.sql").write_text("SELECT 1;\n")
    (root / "0004_d.up.sql").write_text("ALTER TABLE a DROP COLUMN b;\n")
    return root


def _lint(directory: Path, names: list[str]) -> str:
    report = targets.lint_paths(
        [directory / name for name in names], migrations_dir=directory, options=LintOptions()
    )
    return render_json(report)


@pytest.mark.parametrize("later", list(_LATER_FILES), ids=list(_LATER_FILES))
@pytest.mark.parametrize(
    "names",
    [
        ["0002_b.up.sql"],
        ["0001_a.down.sql"],
        ["0002_b.down.sql", "0001_a.up.sql"],
        ["0002_b.up.sql", "0003_c.up.sql"],
        ["0004_d.up.sql"],
        ["0002_b.up.sql", "notes.sql"],
    ],
    ids=["second", "first-down", "two", "the-later-file", "last", "with-a-non-migration"],
)
def test_a_file_in_place_is_reported_as_when_every_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, later: str, names: list[str]
) -> None:
    directory = _directory(tmp_path / "migrations", _LATER_FILES[later])
    (directory / "notes.sql").write_text("DROP TABLE a;\n")
    read: list[list[Path] | None] = []

    def recorded(path: Path, layout: str = "auto", **kwargs: object) -> object:
        through = kwargs.get("through")
        read.append(sorted(through) if isinstance(through, set) else None)
        return discover(path, layout, through=through)  # type: ignore[arg-type]

    monkeypatch.setattr(targets, "discover", recorded)
    in_place = _lint(directory, names)
    monkeypatch.setattr(targets, "discover", lambda path, layout, **_: discover(path, layout))
    every_file_read = _lint(directory, names)

    assert in_place == every_file_read
    assert read == [sorted(directory / name for name in names)]
    assert '"rule"' in in_place  # each case has findings to compare
