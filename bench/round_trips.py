"""Round trips and server statements per migration, per tool, from the server's log.

Each tool applies the same N one-statement migrations (bench.apply_bench's files) to a
database of its own whose sessions log every statement (``ALTER DATABASE ... SET
log_statement = 'all'``). PostgreSQL logs each simple-protocol query string once
(``statement:``) and each extended-protocol execution once (``execute``): one log entry
is one round trip that ran SQL. The statements inside each logged string are counted
with migrator's own splitter; connection start-up and protocol-level ``Parse``/``Bind``
messages are not counted.

    python -m bench.round_trips --n 200
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from bench import apply_bench, peers
from bench.report import table
from migrator.ephemeral import EphemeralServer
from migrator.sql.split import split_statements

#: the start of a log entry (the server's default ``log_line_prefix``: ``%m [%p] ``)
_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] ", re.MULTILINE)
_LOGGED = re.compile(r"^LOG:  (?:statement|execute [^:]*): (.*)", re.DOTALL)


@dataclass(frozen=True)
class Counts:
    tool: str
    n: int
    round_trips: int
    statements: int

    def per_migration(self) -> tuple[float, float]:
        return self.round_trips / self.n, self.statements / self.n


def _logged_sql(log: str) -> list[str]:
    """The SQL of each ``statement:`` / ``execute`` entry of a server log excerpt."""
    entries = list(_ENTRY.finditer(log))
    starts = [match.end() for match in entries]
    ends = [*(match.start() for match in entries[1:]), len(log)]
    found = []
    for start, end in zip(starts, ends, strict=True):
        logged = _LOGGED.match(log[start:end].rstrip("\n"))
        if logged:
            found.append(logged.group(1))
    return found


def _count(tool: str, n: int, logged: list[str]) -> Counts:
    statements = sum(max(1, len(split_statements(sql).statements)) for sql in logged)
    return Counts(tool, n, len(logged), statements)


def measure(n: int) -> list[Counts]:
    found, _ = apply_bench.contenders()
    wanted = [c for c in found if c.name in ("migrator", "dbmate", apply_bench.BARE)]
    work = peers.WORK_DIR / "round_trips"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    counts = []
    with EphemeralServer() as ephemeral:
        assert ephemeral.bin_dir is not None and ephemeral.log_path is not None
        server = apply_bench.Server(ephemeral.host, ephemeral.port, ephemeral.bin_dir)
        for contender in wanted:
            directory = work / f"files-{apply_bench._slug(contender.name)}"
            directory.mkdir(parents=True)
            contender.write(directory, n)
            database = f"trips_{apply_bench._slug(contender.name)}"
            server.query(f'CREATE DATABASE "{database}"')
            server.query(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
            before = ephemeral.log_path.stat().st_size
            apply_bench._run(contender.up(server, directory, database), work)
            with ephemeral.log_path.open("rb") as log:
                log.seek(before)
                excerpt = log.read().decode(errors="replace")
            counts.append(_count(contender.name, n, _logged_sql(excerpt)))
    return counts


def render(counts: Sequence[Counts]) -> str:
    rows = []
    for count in counts:
        trips, statements = count.per_migration()
        rows.append(
            [
                count.tool,
                f"{count.round_trips:,}",
                f"{trips:.2f}",
                f"{count.statements:,}",
                f"{statements:.1f}",
            ]
        )
    header = ["tool", "round trips", "per migration", "server statements", "per migration"]
    n = counts[0].n if counts else 0
    return (
        f"Applying {n:,} one-statement migrations from empty, whole run (connecting, "
        "locking, reading the ledger included), counted from the server's statement log:\n\n"
        + table(header, rows)
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args(argv)
    text = render(measure(args.n))
    print(text)
    return text


if __name__ == "__main__":
    main()
