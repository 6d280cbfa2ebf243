"""A large file's text (:mod:`migrator.source.file_text`), read in chunks: the same
checks, messages, checksum and text as a small file read whole
(:func:`~migrator.source.discovery.load_file`), wherever the chunks are cut (inside a
multi-byte character, a BOM), and a walk stops before its last statement when the file
changed since it was loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.errors import SourceError
from migrator.source import file_text
from migrator.source.discovery import load_file
from migrator.source.file_text import FileText, load_large
from migrator.source.model import MigrationFile

_BYTES = st.lists(
    st.sampled_from(
        [
            b"select 1;",
            b"\n",
            b"\xef\xbb\xbf",
            "é€😀".encode(),
            b"\x00",
            b"\xff",
            b"\xe2\x82",
            b"-- c\n",
        ]
    ),
    max_size=12,
).map(b"".join)


def _outcome(load: object) -> tuple[str, str] | tuple[str, str, str]:
    try:
        loaded = load()  # type: ignore[operator]
    except SourceError as exc:
        return ("error", str(exc))
    assert isinstance(loaded, MigrationFile)
    return ("ok", loaded.checksum, loaded.text)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_BYTES, chunk=st.integers(1, 5))
def test_a_large_file_loads_as_a_small_one(
    data: bytes, chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_text, "CHUNK_BYTES", chunk)
    path = tmp_path / "001_a.up.sql"
    path.write_bytes(data)

    def large() -> MigrationFile:
        read = load_large(path)
        return MigrationFile(path, "up", read)

    assert _outcome(large) == _outcome(lambda: load_file(path, data=data))


def test_a_walk_stops_before_the_last_statement_of_a_file_changed_since_it_was_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_text, "CHUNK_BYTES", 16)
    path = tmp_path / "001_a.up.sql"
    path.write_text("".join(f"select {n};\n" for n in range(100)))
    loaded = MigrationFile(path, "up", load_large(path))
    assert isinstance(loaded.content, FileText)
    assert len(loaded.statements) == 100
    path.write_text("".join(f"select {n};\n" for n in range(99)) + "select 1000;\n")
    walked = []
    with pytest.raises(SourceError, match="changed while migrator was reading it"):
        for statement in loaded.statements:
            walked.append(statement.text)
    assert walked == [f"select {n}" for n in range(len(walked))]
    assert len(walked) < 100  # the last statement never came
