"""The dry-run report does not depend on how the schema is read: rehearsing with the
incremental reader (each read re-reads only the relations that changed) says exactly
what rehearsing with a full read every time says, difference lines included
(differential, on a real PostgreSQL)."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from migrator.config import load_settings
from migrator.ephemeral import EphemeralServer
from migrator.rehearse import engine
from migrator.rehearse.report import RehearsalReport
from tests.helpers_db import write_migrations
from tests.rehearse.test_known_schema import VARIED

#: Downs that each leave a different kind of difference behind (ups that can run
#: again over what their down left), and ups that rename what other objects refer to.
FORGETFUL = {
    "010_rename.up.sql": "CREATE TABLE r (id int PRIMARY KEY, a text);"
    " CREATE VIEW rv AS SELECT a FROM r; ALTER TABLE r RENAME COLUMN a TO b;",
    "010_rename.down.sql": "DROP VIEW rv; DROP TABLE r;",
    "011_keeps_index.up.sql": "CREATE INDEX IF NOT EXISTS r_b ON r (b);"
    " COMMENT ON TABLE r IS 'kept';",
    "011_keeps_index.down.sql": "COMMENT ON TABLE r IS NULL;",
    "012_fk.up.sql": "CREATE TABLE IF NOT EXISTS s (id serial PRIMARY KEY, r_id int REFERENCES r);",
    "012_fk.down.sql": "ALTER TABLE s DROP CONSTRAINT s_r_id_fkey;",
    "013_grant.up.sql": "GRANT SELECT ON s TO PUBLIC;"
    " ALTER TABLE s ADD COLUMN IF NOT EXISTS c int DEFAULT 1;",
    "013_grant.down.sql": "ALTER TABLE s ALTER COLUMN c DROP DEFAULT;",
    "014_owned.up.sql": "ALTER SEQUENCE s_id_seq OWNED BY NONE;",
    "014_owned.down.sql": "SELECT 1;",
    "015_enum.up.sql": "DO $$ BEGIN CREATE TYPE e AS ENUM ('a');"
    " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    " ALTER TABLE s ADD COLUMN IF NOT EXISTS e e DEFAULT 'a';",
    "015_enum.down.sql": "ALTER TYPE e RENAME VALUE 'a' TO 'b';",
    "016_renames_back_wrong.up.sql": "ALTER TABLE IF EXISTS r RENAME TO r2;",
    "016_renames_back_wrong.down.sql": "ALTER TABLE r2 RENAME TO r3;",
}
#: the migrations of the stairway test that do not stop the rehearsal
CLEAN = {name: text for name, text in VARIED.items() if not name.startswith("004_")}

LEMMY = Path(os.environ.get("MIGRATOR_CORPORA", "../shared/corpora")) / "lemmy"


#: a time a view froze when it was created (lemmy's ``now() - interval '1 month'``
#: in a view body): it differs between any two rehearsals
_FROZEN_TIME = re.compile(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?'")


def _without_timings(report: RehearsalReport) -> RehearsalReport:
    return replace(
        report,
        total_ms=0,
        server_start_ms=0,
        migrations=tuple(
            replace(
                m,
                duration_ms=None,
                down_duration_ms=None,
                round_trip_diff=tuple(
                    _FROZEN_TIME.sub("'TIME'", line) for line in m.round_trip_diff
                ),
            )
            for m in report.migrations
        ),
    )


def _both_ways(
    directory: Path, server: EphemeralServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[RehearsalReport, RehearsalReport]:
    settings = load_settings({"migrations_dir": str(directory)})
    options = engine.RehearsalOptions(server_url=server.dsn(), lint=False)
    incremental = engine.rehearse(settings, options)
    with monkeypatch.context() as patched:
        patched.setattr(engine, "SchemaReader", lambda *_, **__: None)  # a full read each time
        full = engine.rehearse(settings, options)
    return _without_timings(incremental), _without_timings(full)


def test_the_report_is_the_one_full_reads_give(
    migrations_dir: Path, pg_server: EphemeralServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_migrations(migrations_dir, {**CLEAN, **FORGETFUL})
    incremental, full = _both_ways(migrations_dir, pg_server, monkeypatch)
    assert incremental == full
    # the comparison saw differences of several kinds, not only clean round trips
    differences = [line for m in full.migrations for line in m.round_trip_diff]
    assert len(differences) >= 6, differences
    assert sum(1 for m in full.migrations if m.status == "rehearsed") >= 12


@pytest.mark.slow
def test_the_report_on_lemmy_is_the_one_full_reads_give(
    tmp_path: Path, pg_server: EphemeralServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not LEMMY.is_dir():
        pytest.skip(f"the lemmy corpus is not at {LEMMY} (set MIGRATOR_CORPORA)")
    for up in sorted(LEMMY.glob("*.up.sql"))[:120]:
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        for path in (up, down):
            if path.exists():
                (tmp_path / path.name).write_bytes(path.read_bytes())
    incremental, full = _both_ways(tmp_path, pg_server, monkeypatch)
    assert incremental == full
    assert any(m.round_trip_diff for m in full.migrations)
