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
    data = read_unless_larger(path, limit, what, limit)
    assert data is not None  # over ``limit`` is an error
    return data


def read_unless_larger(path: Path, limit: int, what: str, larger: int) -> bytes | None:
    """:func:`read_regular_file`, except that a file of more than ``larger`` bytes is
    checked but not read (``None``): one ``stat`` before it is opened, one ``fstat``
    after, one read to its end (a migrations directory holds thousands of files)."""
    try:
        _require_regular(path, os.stat(path).st_mode)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:
        raise SourceError([f"{path}: permission denied: make the file readable"]) from None
    except OSError as exc:
        raise SourceError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        info = os.fstat(descriptor)
        _require_regular(path, info.st_mode)  # replaced since the check: checked again
        _require_size(path, info.st_size, limit, what)
        if info.st_size > larger:
            return None
        chunks = []
        # to the end, as the size may have changed since the fstat
        while chunk := os.read(descriptor, max(info.st_size, 65536)):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SourceError([f"{path}: cannot read ({exc.strerror})"]) from None
    finally:
        os.close(descriptor)


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
