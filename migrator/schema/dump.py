"""``migrate schema dump``: a deterministic schema file of a database.

The statements come from ``pg_dump --schema-only`` (it knows every object type and the
order that loads them again); :func:`~migrator.schema.schema_file.normalise_dump`
removes what varies between runs and versions. The migrator's ledger tables are left
out; the versions they record as applied go into a header line, so ``migrate dry-run
--from-schema`` knows which migrations are pending.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from migrator.db.target import parse_target
from migrator.dsn import scrub
from migrator.ephemeral import find_server_binaries
from migrator.errors import ConnectionFailed, ServerUnavailable
from migrator.schema.introspect import Exclusions
from migrator.schema.schema_file import normalise_dump

_PG_DUMP_TIMEOUT_S = 600
_LOWERCASE = re.compile(r"^[a-z_][a-z0-9_]*$")


def _pattern(schema: str, table: str) -> str:
    """A pg_dump table pattern matching exactly ``schema.table``."""
    return '"{}"."{}"'.format(schema.replace('"', '""'), table.replace('"', '""'))


def pg_dump_schema(dsn: str | None, exclusions: Exclusions, *, bin_dir: Path | None = None) -> str:
    """Raw ``pg_dump --schema-only --no-owner`` text of the database at ``dsn``
    (``None``: libpq's ``PG*`` variables), ledger tables excluded. The password is
    passed through the environment, never on the command line."""
    directory = find_server_binaries(bin_dir)
    pg_dump = directory / "pg_dump"
    if not pg_dump.is_file():
        raise ServerUnavailable(
            f"no pg_dump in {directory}",
            hint="install the PostgreSQL client (Debian/Ubuntu: apt-get install "
            "postgresql-client) or set PG_BIN",
        )
    target = parse_target(dsn)
    # every setting as resolved (service, password file, sslrootcert, ...) goes to
    # pg_dump as libpq's variables: the password never on the command line
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(target.conninfo.environment())
    env.pop("PGSERVICE", None)  # already resolved: its settings are in the variables
    command = [
        str(pg_dump),
        "--schema-only",
        "--no-owner",
        "--no-tablespaces",
        "--no-security-labels",
        "--no-subscriptions",
        f"--host={target.host}",
        f"--username={target.user}",
        f"--dbname={target.database}",
    ]
    if target.port:
        command.append(f"--port={target.port}")
    for table in exclusions.tables:
        command.append(f"--exclude-table={_pattern(exclusions.schema, table)}")
        if _LOWERCASE.match(exclusions.schema) and _LOWERCASE.match(table):
            # serial sequences owned by a ledger table (a wildcard needs no quotes)
            command.append(f"--exclude-table={exclusions.schema}.{table}_*_seq")
    try:
        completed = subprocess.run(
            command, capture_output=True, env=env, timeout=_PG_DUMP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerUnavailable(f"pg_dump could not run: {exc}") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = scrub(" | ".join(message[-3:]) or "no output", target.secrets())
        raise ConnectionFailed(
            f"pg_dump of {target.describe()} failed: {detail}",
            hint="pg_dump must be at least as new as the server; set PG_BIN to a newer one",
        )
    return completed.stdout.decode("utf-8")


def dump_schema(
    dsn: str | None,
    exclusions: Exclusions,
    applied_versions: list[int],
    *,
    bin_dir: Path | None = None,
) -> str:
    """The normalised schema file text of the database at ``dsn``."""
    return normalise_dump(pg_dump_schema(dsn, exclusions, bin_dir=bin_dir), applied_versions)
