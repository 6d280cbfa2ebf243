"""Run the ``migrate`` command line in-process, as a user would, and capture everything."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from migrator.cli import main


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None] | None, cwd: Path | None) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    try:
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)


#: the shared data beside this checkout (corpora, reference pages): ``../shared``
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ``../shared``; skips the test, saying why, when it is absent."""
    import pytest

    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data is not beside this checkout")
    return path


def run_cli(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path | None = None
) -> Result:
    """Run ``migrate ARGS`` in this process; return its exit code and output.

    ``cwd`` defaults to a place with no pyproject.toml of ours above it only if the
    caller passes one; tests that depend on configuration pass ``cwd``.
    """
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _environment(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def start_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``python -m migrator ARGS`` as a real process (for kills and concurrency),
    with this checkout importable and no migrator settings leaking from the caller."""
    env = {
        key: value
        for key, value in os.environ.items()
        if (not key.startswith("MIGRATOR_") or key == "MIGRATOR_CACHE_DIR")
        and key != "DATABASE_URL"
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.Popen(
        [sys.executable, "-m", "migrator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
