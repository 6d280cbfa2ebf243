"""Peak memory and CPU time of `migrate lint` and `migrate up` on one large file.

Generated files (issue 15, item 13: memory must follow the largest statement, not
the file): ``inserts-N`` is N MB of one-row ``INSERT`` statements (about 100 bytes
each); ``one-5mb-N`` is N MB holding one ``INSERT`` of 5 MB (many ``VALUES`` rows) among
one-row ones. Each runs in a directory with a first migration that creates the table.
``up`` runs against a fresh database on an ephemeral server; ``lint`` without one, and
with ``--no-cache`` (the generated files are the same at every run: its cache would
answer instead of linting).

Each command runs once as its own process under ``/usr/bin/time -v``: the table shows
its maximum resident set size, its CPU time (user + system; the server's work is not
counted) and its exit code. ``--source DIR`` runs the migrator found in DIR instead
(``git archive <commit> | tar -x -C DIR`` gives the "before" of a change).

    python -m bench.large_files [--sizes 10,30,100] [--source DIR] [--commands lint,up]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import table
from migrator.ephemeral import EphemeralServer

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000
TABLE = "CREATE TABLE big (id bigint NOT NULL, payload text NOT NULL);\n"


def _row(number: int) -> str:
    return f"({number}, 'payload {number:012d} {'x' * 40}')"


def write_inserts(path: Path, size: int, *, big_statement: int = 0) -> int:
    """``size`` bytes of one-row INSERTs (with one multi-row INSERT of
    ``big_statement`` bytes in the middle); returns the number of statements."""
    statements = 0
    written = 0
    number = 0
    with path.open("w", encoding="utf-8") as out:
        while written < size:
            if big_statement and statements == 1000:
                rows = []
                length = 0
                while length < big_statement:
                    number += 1
                    rows.append(_row(number))
                    length += len(rows[-1]) + 2
                text = "INSERT INTO big (id, payload) VALUES\n" + ",\n".join(rows) + ";\n"
            else:
                number += 1
                text = f"INSERT INTO big (id, payload) VALUES {_row(number)};\n"
            out.write(text)
            written += len(text)
            statements += 1
    return statements


@dataclass(frozen=True)
class Measured:
    code: int
    max_rss_mb: float
    cpu_s: float
    last_line: str


def measure(command: Sequence[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run ``command`` under ``/usr/bin/time -v`` in ``cwd`` (not the checkout: ``python
    -m`` puts the working directory before ``PYTHONPATH``, and ``--source`` would be
    ignored)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        done = subprocess.run(
            ["/usr/bin/time", "-v", "-o", report.name, *command],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=cwd,
        )
        text = Path(report.name).read_text()
    rss = _number(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = _number(r"User time \(seconds\): ([\d.]+)", text)
    cpu += _number(r"System time \(seconds\): ([\d.]+)", text)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return Measured(done.returncode, rss / 1024, cpu, lines[-1] if lines else "")


def _number(pattern: str, report: str) -> float:
    found = re.search(pattern, report)
    if found is None:
        raise ValueError(f"/usr/bin/time -v gave no {pattern!r}")
    return float(found.group(1))


def run(
    sizes: Sequence[int], source: Path, work: Path, commands: Sequence[str] = ("lint", "up")
) -> list[list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGRATOR_", "PG"))}
    env["PYTHONPATH"] = str(source)
    migrate = [sys.executable, "-m", "migrator"]
    rows: list[list[str]] = []
    with EphemeralServer() as server:
        for size in sizes:
            for kind in ("inserts", "one-5mb"):
                directory = work / f"{kind}-{size}"
                directory.mkdir(parents=True)
                (directory / "001_table.up.sql").write_text(TABLE)
                big = 5 * MB if kind == "one-5mb" else 0
                count = write_inserts(directory / "002_load.up.sql", size * MB, big_statement=big)
                database = f"bench_{kind.replace('-', '_')}_{size}"
                subprocess.run(
                    [str(server.bin_dir / "createdb"), "-h", server.host, "-p", str(server.port),
                     "-U", server.user, database],
                    check=True,
                )  # fmt: skip
                for command in commands:
                    args = [*migrate, "--dir", str(directory)]
                    if command == "up":
                        args += ["--database-url", server.dsn(database)]
                    # the files are the same at every run: lint's cache would answer
                    extra = ["--no-cache"] if command == "lint" else []
                    result = measure([*args, command, *extra], env, work)
                    rows.append(
                        [
                            f"{kind}, {size} MB ({count:,} statements)",
                            command,
                            str(result.code),
                            f"{result.max_rss_mb:.0f}",
                            f"{result.cpu_s:.1f}",
                            result.last_line[:70],
                        ]
                    )
                    print(" | ".join(rows[-1]), flush=True)
                shutil.rmtree(directory)
    return rows


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,30,100", help="file sizes in MB")
    parser.add_argument("--source", type=Path, default=REPO, help="the migrator to run")
    parser.add_argument("--commands", default="lint,up", help="lint, up or both")
    options = parser.parse_args(argv)
    sizes = [int(size) for size in options.sizes.split(",")]
    commands = options.commands.split(",")
    with tempfile.TemporaryDirectory(prefix="large-files-") as work:
        rows = run(sizes, options.source.resolve(), Path(work), commands)
    headers = ["file", "command", "exit", "max RSS (MB)", "CPU (s)", "last line of output"]
    rendered = (
        f"`python -m bench.large_files --sizes {options.sizes} --commands {options.commands}`: "
        "each command once, as its "
        "own process under `/usr/bin/time -v` (maximum resident set size; CPU = user + "
        "system of migrate, the server's work not counted).\n\n" + table(headers, rows)
    )
    print(rendered)
    return rendered


if __name__ == "__main__":
    main()
