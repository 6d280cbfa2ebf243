"""The server's CPU time for each part of what migrator sends around a migration.

Around each migration's own SQL, a batched transactional migration's string holds
``BEGIN``, the ledger's check that the migration before left no prepared statement
(``EXECUTE``, all but the string's first), the step's ``SET LOCAL``s, the session reset
(:func:`migrator.runner.session.reset_statements`: eight utility statements, and in the
string's last migration a ``DO`` block), the ``SET LOCAL``s again, the ledger write
(``EXECUTE`` of the prepared write) and ``COMMIT``. Each part is sent alone, between ``BEGIN`` and
``COMMIT``, 64 to a string as the runner sends them, many times over on one session,
and the backend's CPU time (``/proc/PID/stat``) is divided by the count; ``BEGIN;
COMMIT`` alone is the floor. The parts are interleaved over the rounds.

    python -m bench.session_cost --count 3200 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg

from bench.report import table
from migrator.db.ledger import MS_SINCE_PREVIOUS_WRITE, Ledger
from migrator.ephemeral import EphemeralServer
from migrator.runner import session

_PER_STRING = 64
_SETS = "SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = 0"


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parts(conn: asyncpg.Connection, ledger: Ledger) -> dict[str, Callable[[int], str]]:
    reset = session.reset_statements(conn, ledger.prepared_names)
    do_block = [statement for statement in reset if statement.startswith("DO ")]
    utility = [statement for statement in reset if not statement.startswith("DO ")]
    applied = ledger._writes["applied"]

    def write(version: int) -> str:
        parameters = (version, f"m{version}", "0" * 64, "1" * 64, ledger.client, None, True,
                      None, 1, "up", None)  # fmt: skip
        return applied.execute_sql(parameters, MS_SINCE_PREVIOUS_WRITE, prepared=True)

    return {
        "BEGIN; COMMIT (the floor)": lambda _: "",
        "the step's SET LOCALs": lambda _: _SETS,
        "the reset's 8 utility statements": lambda _: ";\n".join(utility),
        "the reset's DO block (DEALLOCATE a migration's PREPAREs)": lambda _: do_block[0],
        "the ledger's check that none is left (EXECUTE)": lambda _: ledger.check_sql,
        "the ledger write (EXECUTE, 2 rows)": write,
    }


async def _measure(dsn: str, count: int, rounds: int) -> dict[str, list[float]]:
    ledger = Ledger()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(ledger.create_sql())
        await ledger.prepare_writes(conn)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        parts = _parts(conn, ledger)
        versions = itertools.count(1)
        found: dict[str, list[float]] = {name: [] for name in parts}
        for _ in range(rounds):
            for name, make in parts.items():
                before = _backend_cpu(pid)
                for _ in range(count // _PER_STRING):
                    await conn.execute(
                        ";\n".join(
                            f"BEGIN; {body};\nCOMMIT" if (body := make(next(versions))) else
                            "BEGIN; COMMIT"
                            for _ in range(_PER_STRING)
                        )
                    )  # fmt: skip
                found[name].append((_backend_cpu(pid) - before) / count)
        return found
    finally:
        await conn.close()


def measure(count: int = 3200, rounds: int = 3) -> dict[str, list[float]]:
    with EphemeralServer() as server:
        return asyncio.run(_measure(server.dsn(), count, rounds))


def render(found: dict[str, list[float]], count: int, rounds: int) -> str:
    floor = statistics.median(next(iter(found.values())))
    rows = []
    for name, samples in found.items():
        each = statistics.median(samples)
        extra = "-" if each is floor else f"{(each - floor) * 1e6:.0f} µs"
        rows.append([name, f"{each * 1e6:.0f} µs", extra])
    return (
        f"Server CPU per migration for each part ({count:,} transactions per part and "
        f"round, {_PER_STRING} to a string, median of {rounds} interleaved rounds):\n\n"
        + table(["part", "per transaction", "beyond the floor"], rows)
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    text = render(measure(args.count, args.rounds), args.count, args.rounds)
    print(text)
    return text


if __name__ == "__main__":
    main()
