"""A real history in dbmate's layout, applied by dbmate and by migrator, side by side.

pocket-id's golang-migrate history (shared/corpora/original, 64 migrations, citext,
a ``BEGIN ... COMMIT`` wrapped file) is rewritten into dbmate's layout, one file per
version with ``-- migrate:up`` / ``-- migrate:down`` sections; no other change. Both
tools then apply that same directory from an empty database to head, interleaved,
each on a fresh database per round: dbmate reads it as its own, migrator detects the
dbmate layout. A round counts only when both exit 0; after the last round the two
schemas (``pg_dump --schema-only``, without either tool's history table) must be
identical.

    python -m bench.adopted_bench --repeat 5
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import peers
from bench.apply_bench import Invocation, Server, _clean_env
from bench.report import factor, table
from bench.timing import CommandFailed, median, run_measured, seconds
from migrator.ephemeral import EphemeralServer

HISTORY = peers.BENCH_DIR.parent.parent / "shared" / "corpora" / "original"
SOURCE = "golang-migrate_pocket-id"
DEFAULT_REPEAT = 5
_UP = re.compile(r"(\d+)_(.+)\.up\.sql\Z")


def convert_to_dbmate(source: Path, target: Path) -> int:
    """Write ``source`` (golang-migrate: ``V_name.up.sql`` / ``.down.sql``) as dbmate
    files in ``target``; returns how many migrations."""
    target.mkdir(parents=True)
    count = 0
    for up in sorted(source.glob("*.up.sql")):
        found = _UP.match(up.name)
        if found is None:
            continue
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        # dbmate requires a down section: the one migration without a down file gets an
        # empty one (nothing to undo, for both tools)
        undo = down.read_text() if down.exists() else ""
        text = f"-- migrate:up\n{up.read_text()}\n-- migrate:down\n{undo}\n"
        (target / f"{found[1]}_{found[2]}.sql").write_text(text)
        count += 1
    return count


def _dbmate(tool: peers.Tool, server: Server, directory: Path, database: str) -> Invocation:
    url = server.url(database, scheme="postgres") + "?sslmode=disable"
    argv = [*tool.command, "--migrations-dir", str(directory), "--no-dump-schema", "up"]
    return Invocation(argv, {"DATABASE_URL": url})


def _migrator(tool: peers.Tool, server: Server, directory: Path, database: str) -> Invocation:
    return Invocation(
        [*tool.command, "--dir", str(directory), "--database-url", server.url(database), "up"]
    )


def _schema(server: Server, database: str) -> str:
    """The schema without the tools' own tables and the dump's volatile header."""
    completed = subprocess.run(
        [str(server.bin_dir / "pg_dump"), "--schema-only", "--no-owner",
         "--exclude-table=schema_migrations", "--exclude-table=migrator_ledger*",
         "--dbname", server.url(database)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return "\n".join(
        line
        for line in completed.stdout.splitlines()
        if not line.startswith(("--", "\\restrict", "\\unrestrict"))
    )


def measure(repeat: int = DEFAULT_REPEAT, progress: Callable[[str], None] = print) -> str:
    """Run the side-by-side apply; the markdown section."""
    dbmate = peers.dbmate()
    if dbmate is None:
        return f"Not run: dbmate is not installed ({peers.INSTALL_HINT}).\n"
    if not (HISTORY / SOURCE).is_dir():
        return f"Not run: {HISTORY / SOURCE} is not beside this checkout.\n"
    me = peers.migrator()
    work = peers.WORK_DIR / "adopted"
    shutil.rmtree(work, ignore_errors=True)
    directory = work / "pocket-id-dbmate"
    n = convert_to_dbmate(HISTORY / SOURCE, directory)
    contenders: dict[str, Callable[[Server, str], Invocation]] = {
        "dbmate": lambda server, database: _dbmate(dbmate, server, directory, database),
        "migrator": lambda server, database: _migrator(me, server, directory, database),
    }
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    schemas: dict[str, str] = {}
    with EphemeralServer() as ephemeral:
        assert ephemeral.bin_dir is not None
        server = Server(ephemeral.host, ephemeral.port, ephemeral.bin_dir)
        version = server.query("SHOW server_version")
        for name, invocation_of in contenders.items():  # warm-up: caches, bytecode
            server.query(f'CREATE DATABASE "adopted_{name}_warm"')
            warm = invocation_of(server, f"adopted_{name}_warm")
            run_measured(warm.argv, env={**_clean_env(), **warm.env}, cwd=work)
            server.query(f'DROP DATABASE "adopted_{name}_warm" WITH (FORCE)')
        for round_ in range(repeat):
            order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
            for name in order:
                database = f"adopted_{name}_{round_}"
                server.query(f'CREATE DATABASE "{database}"')
                try:
                    invocation = contenders[name](server, database)
                    sample = run_measured(
                        invocation.argv, env={**_clean_env(), **invocation.env}, cwd=work
                    )
                    if round_ == repeat - 1:
                        schemas[name] = _schema(server, database)
                finally:
                    server.query(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                wall[name].append(sample.wall)
                cpu[name].append(sample.cpu)
                progress(f"  {name} round {round_ + 1}: {seconds(sample.wall)}")
    ratios = [a / b for a, b in zip(wall["migrator"], wall["dbmate"], strict=True)]
    cpu_ratios = [a / b for a, b in zip(cpu["migrator"], cpu["dbmate"], strict=True)]
    same = schemas["dbmate"] == schemas["migrator"]
    rows = [[name, seconds(median(wall[name])), seconds(median(cpu[name]))] for name in contenders]
    return "\n".join(
        [
            f"pocket-id's real history ({n} migrations, from shared/corpora/original/{SOURCE}) "
            "rewritten into dbmate's layout, and that one directory applied from an empty "
            f"database to head by dbmate and by migrator (layout auto-detected), {repeat} "
            f"rounds interleaved, a fresh database each, after one untimed warm-up run of "
            f"each; PostgreSQL {version}. Whole-process wall time and the tool's own CPU "
            "time, medians.",
            "",
            table(["tool", "apply, wall", "apply, CPU"], rows),
            "",
            f"migrator / dbmate: {factor(median(ratios))} the wall time (median of per-round "
            f"ratios, which ranged {factor(min(ratios))} to {factor(max(ratios))}) and "
            f"{factor(median(cpu_ratios))} the CPU time. Schemas after the last round "
            f"(pg_dump --schema-only, history tables left out): "
            f"{'identical' if same else 'DIFFERENT'}.",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    args = parser.parse_args(argv)
    try:
        text = measure(args.repeat)
    except CommandFailed as exc:
        text = f"Not run: a tool failed ({exc}).\n"
    print(text)
    return text


if __name__ == "__main__":
    main()
