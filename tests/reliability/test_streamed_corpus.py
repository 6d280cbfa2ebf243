"""``up`` and ``down`` of the kill corpus (transactional and no-transaction migrations,
a backfill, concurrent index builds) and of files with commit points and ``BEGIN ...
COMMIT`` blocks give the same schema and the same ledger (fingerprints included)
whether each file is read whole or walked from disk as a large file is
(:mod:`migrator.sql.statement_source`, every file taking that path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrator.ephemeral import EphemeralServer
from migrator.source import discovery
from tests.reliability.database_state import schema_of, scratch_databases
from tests.reliability.kill_corpus import write_corpus
from tests.reliability.processes import run_in_process

#: what a run writes to the ledger, without times, users and durations
_LEDGER = (
    "SELECT version, name, up_checksum, down_checksum, transactional, phase, state, "
    "direction, statements_done, statements_total, error, progress "
    "FROM public.migrator_ledger ORDER BY version"
)
_HISTORY = (
    "SELECT version, name, action, checksum, detail FROM public.migrator_ledger_history ORDER BY id"
)
#: files with commit points (segments) and a no-transaction file with a block
_MORE = {
    "008_segments.up.sql": "CREATE TABLE seg_a (id int);\nCOMMIT AND CHAIN;\n"
    "INSERT INTO seg_a VALUES (1);\nCOMMIT;\nBEGIN;\nINSERT INTO seg_a VALUES (2);\nCOMMIT;\n",
    "008_segments.down.sql": "DROP TABLE seg_a;\n",
    "009_blocks.up.sql": "-- migrate:no-transaction\nCREATE TABLE blk (id int);\nBEGIN;\n"
    "INSERT INTO blk VALUES (1);\nINSERT INTO blk VALUES (2);\nCOMMIT;\n"
    "INSERT INTO blk VALUES (3);\n",
    "009_blocks.down.sql": "DROP TABLE blk;\n",
}


def _ledger(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [*conn.execute(_LEDGER).fetchall(), *conn.execute(_HISTORY).fetchall()]  # type: ignore[arg-type]


def _runs(directory: Path, database_url: str) -> list[object]:
    """Schema and ledger after ``up``, after ``down --to`` the middle, after ``up``."""
    seen: list[object] = []
    for args in (("up",), ("down", "--to", "3"), ("up",)):
        result = run_in_process(directory, database_url, *args)
        assert result.code == 0, result.output
        seen += [schema_of(database_url), _ledger(database_url)]
    return seen


def test_the_corpus_runs_the_same_when_every_file_is_walked_from_disk(
    pg_server: EphemeralServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_corpus(tmp_path / "migrations")
    for name, text in _MORE.items():
        (directory / name).write_text(text)
    for databases in scratch_databases(pg_server):
        whole = _runs(directory, databases.create())
        monkeypatch.setattr(discovery, "WHOLE_PARSE_LIMIT", 0)
        assert discovery.load_file(min(directory.glob("*.up.sql"))).streamed
        assert _runs(directory, databases.create()) == whole
