"""Read a file of the migrations directory: only a regular file, only up to a limit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from migrator.errors import SourceError

#: a layout's side file (diesel's metadata.toml, Flyway's .conf) is a few lines
SIDE_FILE_BYTES = 1024 * 1024

#: what a directory entry that is not a regular file is, by its ``stat`` mode
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_regular_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path`` (``what`` names it in the size error).

    Checked before it is opened, and opened without blocking: a named pipe, a device or
    a socket named like a migration is refused at once, never waited on or read forever.
    Raises :class:`SourceError`."""
    data = read_held_file(path, limit, what, limit)
    assert data is not None  # held up to the limit: larger is refused
    return data


def read_held_file(path: Path, limit: int, what: str, held: int) -> bytes | None:
    """:func:`read_regular_file`, or ``None`` for a file over ``held`` bytes (checked
    all the same, not opened: its caller walks it from disk)."""
    try:
        info = os.stat(path)
        _require_regular(path, info.st_mode)
        if info.st_size > held:
            _require_size(path, info.st_size, limit, what)
            return None
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:
        raise SourceError([f"{path}: permission denied: make the file readable"]) from None
    except OSError as exc:
        raise SourceError([f"{path}: cannot read ({exc.strerror})"]) from None
    with open(descriptor, "rb") as file:
        info = os.fstat(descriptor)
        _require_regular(path, info.st_mode)  # replaced since the check: checked again
        _require_size(path, info.st_size, limit, what)
        try:
            return file.read()
        except OSError as exc:
            raise SourceError([f"{path}: cannot read ({exc.strerror})"]) from None


def _require_size(path: Path, size: int, limit: int, what: str) -> None:
    if size > limit:
        raise SourceError(
            [
                f"{path}: {size / 1048576:.0f} MiB is too large for {what} "
                f"(limit {limit // 1048576} MiB): load bulk data outside migrations"
            ]
        )


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise SourceError([f"{path}: is a directory, not a file: rename or move it"])
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
        raise SourceError([f"{path}: is {kind}, not a regular file: rename or remove it"])
