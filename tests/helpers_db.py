"""Helpers for tests that need migration files and a database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_migrations(directory: Path, files: Mapping[str, str]) -> Path:
    """Write ``{"001_name.up.sql": "...", ...}`` into ``directory``; return it.

    The directory is created if needed; existing files of the same name are replaced.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def unprivileged_user() -> str:
    """The OS user the tests run things as when the suite runs as root."""
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise AssertionError("no unprivileged OS user (postgres, nobody) on this machine")


def python_for(user: str) -> list[str]:
    """A command prefix running Python as ``user`` with this checkout and its installed
    dependencies importable (the venv's interpreter may live under /root, which other
    users cannot enter; the system Python of the same minor version can use its
    site-packages)."""
    import os
    import subprocess
    import sys

    import asyncpg

    site_packages = str(Path(asyncpg.__file__).resolve().parents[1])
    repo = str(Path(__file__).resolve().parents[1])
    env = ["env", f"PYTHONPATH={os.pathsep.join([repo, site_packages])}"]
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{wanted}", "/usr/bin/python3"):
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                user,
                "--",
                *env,
                candidate,
                "-c",
                "import sys, asyncpg, click, pglast; print('%d.%d' % sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == wanted:
            return ["runuser", "-u", user, "--", *env, candidate]
    raise AssertionError(f"no Python {wanted} that {user} can run with the dependencies")
