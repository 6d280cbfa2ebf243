"""Where the peer tools and migrator's own command are, and which versions they are.

The peers live in ``bench/.tools/`` (``bench/install_peers.sh``); sql-migrate is the
Debian package on ``PATH``. A peer that is not installed is ``None``: its benchmark
section says so instead of inventing a number.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TOOLS_DIR = BENCH_DIR / ".tools"
#: generated migration directories and scratch files (gitignored)
WORK_DIR = BENCH_DIR / ".work"
INSTALL_HINT = "run `bash bench/install_peers.sh`"


@dataclass(frozen=True)
class Tool:
    """A command-line program: how to start it, and its version as it reports it."""

    name: str
    command: tuple[str, ...]
    version: str


def _output(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return "unknown"
    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _executable(path: Path) -> Path | None:
    return path if path.is_file() and path.stat().st_mode & 0o111 else None


def migrator() -> Tool:
    """migrator's ``migrate`` console script beside this Python, else ``python -m migrator``."""
    script = _executable(Path(sys.executable).parent / "migrate")
    command = (str(script),) if script else (sys.executable, "-m", "migrator")
    version = _output([*command, "--version"])
    return Tool("migrator", command, version)


def dbmate() -> Tool | None:
    """The native binary the npm package ships (its ``.bin/dbmate`` is a node script that
    spawns it: timing that would charge dbmate for node's start)."""
    native = sorted((TOOLS_DIR / "node_modules" / "@dbmate").glob("*/bin/dbmate"))
    binary = _executable(native[0]) if native else None
    if binary is None:
        return None
    return Tool("dbmate", (str(binary),), _output([str(binary), "--version"]))


def _venv_tool(venv: str, script: str, distribution: str, name: str) -> Tool | None:
    binary = _executable(TOOLS_DIR / venv / "bin" / script)
    if binary is None:
        return None
    python = str(TOOLS_DIR / venv / "bin" / "python")
    query = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return Tool(name, (str(binary),), f"{distribution} {_output([python, '-c', query])}")


def yoyo() -> Tool | None:
    return _venv_tool("yoyo-venv", "yoyo", "yoyo-migrations", "yoyo")


def squawk() -> Tool | None:
    return _venv_tool("squawk-venv", "squawk", "squawk-cli", "squawk")


def sql_migrate() -> Tool | None:
    binary = shutil.which("sql-migrate")
    if binary is None:
        return None
    version = _output(["dpkg-query", "-W", "-f", "${Version}", "sql-migrate"])
    return Tool("sql-migrate", (binary,), f"sql-migrate {version} (Debian package)")
