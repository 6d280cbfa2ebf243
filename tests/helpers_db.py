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


def _readable_root(user: str, repo: Path, site_packages: Path) -> list[str]:
    """Import roots ``user`` can read: the checkout and site-packages themselves when
    it can enter them, else copies of the packages a run needs in a shared temporary
    directory (a CI checkout may live under /root)."""
    import shutil
    import subprocess
    import tempfile

    probe = subprocess.run(
        [
            "runuser",
            "-u",
            user,
            "--",
            "test",
            "-r",
            str(repo / "migrator" / "__init__.py"),
            "-a",
            "-r",
            str(site_packages / "asyncpg" / "__init__.py"),
        ],
        check=False,
    )
    if probe.returncode == 0:
        return [str(repo), str(site_packages)]
    import atexit

    root = Path(tempfile.mkdtemp(prefix="migrator-pyroot-", dir="/tmp"))
    atexit.register(shutil.rmtree, root, True)
    root.chmod(0o755)
    shutil.copytree(repo / "migrator", root / "migrator")
    for package in ("asyncpg", "click", "pglast"):
        shutil.copytree(site_packages / package, root / package)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return [str(root)]


def python_for(user: str) -> list[str]:
    """A command prefix running Python as ``user`` with migrator and its dependencies
    importable (the venv's interpreter may live under /root, which other users cannot
    enter; the system Python of the same minor version can use the same packages)."""
    import os
    import subprocess
    import sys

    import asyncpg

    site_packages = Path(asyncpg.__file__).resolve().parents[1]
    repo = Path(__file__).resolve().parents[1]
    roots = _readable_root(user, repo, site_packages)
    env = ["env", f"PYTHONPATH={os.pathsep.join(roots)}"]
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


def execute_sql(dsn: str, sql: str) -> None:
    """Run ``sql`` on the database of ``dsn`` in a connection of its own."""
    import asyncio

    import asyncpg

    async def _execute() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(_execute())
