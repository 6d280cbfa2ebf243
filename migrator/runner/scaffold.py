"""``migrate new``: write the next up/down pair, numbered like the files already there.

- 14-digit versions (``20261122153000``) continue as UTC timestamps, and so does any
  directory when timestamps are asked for (``migrate new --timestamp``, or
  ``versions = "timestamp"``), so that branches that each add a migration do not clash;
- otherwise the next integer, zero-padded to the width of the newest version
  (``003`` -> ``004``, ``9`` -> ``10``);
- an empty directory starts at ``001``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from migrator.errors import UsageError

_VERSION = re.compile(r"^(\d+)_")
_TIMESTAMP_WIDTH = 14
_FIRST_VERSION = "001"


def migration_name(name: str) -> str:
    """``"Add users table"`` -> ``add_users_table``; refuses a name with no letters or
    digits."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    if not cleaned:
        raise UsageError(
            f"invalid migration name {name!r}", hint="use letters, digits and underscores"
        )
    return cleaned


def next_version(directory: Path, now: datetime | None = None, *, timestamp: bool = False) -> str:
    """The version text for the next migration in ``directory``: a UTC timestamp when
    ``timestamp`` is asked for or the newest version is one."""
    versions: list[str] = []
    if directory.is_dir():
        for path in directory.iterdir():
            match = _VERSION.match(path.name)
            if match and path.name.endswith(".sql"):
                versions.append(match.group(1))
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    if not versions:
        return stamp if timestamp else _FIRST_VERSION
    newest = max(versions, key=int)
    if timestamp or len(newest) == _TIMESTAMP_WIDTH:
        return stamp if int(stamp) > int(newest) else str(int(newest) + 1)
    return str(int(newest) + 1).zfill(len(newest))


def _header(label: str, direction: str, transactional: bool) -> str:
    if transactional:
        return (
            f"-- {label} ({direction})\n"
            "-- Runs in one transaction together with its ledger row; lock_timeout applies.\n"
            "-- Directives (at the top): -- migrate:lock-timeout 5s, "
            "-- migrate:statement-timeout 1min\n\n"
        )
    return (
        "-- migrate:no-transaction\n"
        f"-- {label} ({direction}): each statement is sent on its own, outside a\n"
        "-- transaction (needed for CREATE INDEX CONCURRENTLY); progress is recorded\n"
        "-- after every statement so a failed run can resume where it stopped.\n\n"
    )


def create_migration(
    directory: Path,
    name: str,
    *,
    transactional: bool = True,
    now: datetime | None = None,
    timestamp: bool = False,
) -> tuple[Path, Path]:
    """Write ``<next>_<name>.up.sql`` and ``.down.sql`` into ``directory`` (created if
    missing); returns their paths. Never overwrites a file."""
    label = f"{next_version(directory, now, timestamp=timestamp)}_{migration_name(name)}"
    up = directory / f"{label}.up.sql"
    down = directory / f"{label}.down.sql"
    if directory.exists() and not directory.is_dir():
        raise UsageError(
            f"{directory} is a file, not a migrations directory",
            hint="pass the directory with --dir, or set dir in [tool.migrator]",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, direction in ((up, "up"), (down, "down")):
            with path.open("x", encoding="utf-8") as handle:
                handle.write(_header(label, direction, transactional))
    except FileExistsError as exc:
        raise UsageError(f"{exc.filename} already exists", hint="pick another name") from None
    except OSError as exc:
        raise UsageError(f"cannot write into {directory}: {exc.strerror}") from None
    return up, down
