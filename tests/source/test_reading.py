"""read_unless_larger: a file is read, or over a size checked and left on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrator.errors import SourceError
from migrator.source.reading import read_regular_file, read_unless_larger


def test_a_file_up_to_held_is_read_a_larger_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "1_a.sql"
    path.write_bytes(b"select 1;")
    assert read_unless_larger(path, 100, "a migration", 9) == b"select 1;"
    assert read_unless_larger(path, 100, "a migration", 8) is None
    assert read_regular_file(path, 100, "a migration") == b"select 1;"


def test_a_file_over_the_limit_is_refused_held_or_not(tmp_path: Path) -> None:
    path = tmp_path / "1_a.sql"
    path.write_bytes(b"x" * (3 << 20))
    with pytest.raises(SourceError, match="too large for a migration"):
        read_unless_larger(path, 1 << 20, "a migration", 1 << 10)
    with pytest.raises(SourceError, match="too large for a migration"):
        read_regular_file(path, 1 << 20, "a migration")


def test_a_named_pipe_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "1_a.sql"
    os.mkfifo(path)
    with pytest.raises(SourceError, match="named pipe"):
        read_unless_larger(path, 100, "a migration", 10)
