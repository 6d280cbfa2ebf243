"""``migrate new``: write the next migration in the directory's layout, numbered like
the files already there.

- 14-digit versions (``20261122153000``) continue as UTC timestamps, and so does any
  directory when timestamps are asked for (``migrate new --timestamp``, or
  ``versions = "timestamp"``), so that branches that each add a migration do not clash;
- otherwise the next integer, zero-padded to the width of the newest version
  (``003`` -> ``004``, ``9`` -> ``10``);
- an empty directory starts at ``001``;
- diesel folders are named by UTC timestamp (``2026-11-22-153000``), as
  ``diesel migration generate`` does; Flyway's newest version gets its last part
  incremented (``1_27`` -> ``1_28``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from migrator.errors import UsageError
from migrator.source.layouts import Layout, detect, named
from migrator.source.layouts.base import list_directory
from migrator.source.versions import version_key

_TIMESTAMP_WIDTH = 14
_FIRST_VERSION = "001"


def migration_name(name: str) -> str:
    """``"Add users table"`` -> ``add_users_table``, accents dropped (``"Grüße"`` ->
    ``grusse``); refuses a name with no letters or digits, or with a letter that has no
    ASCII spelling (``ø``, ``日``): dropping it would change the name silently."""
    spelled = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
    spelled = "".join(c for c in spelled if not unicodedata.combining(c))
    foreign = sorted({c for c in spelled if c.isalnum() and not c.isascii()})
    if foreign:
        raise UsageError(
            f"invalid migration name {name!r}: {''.join(foreign)} has no ASCII spelling "
            "(file names are ASCII)",
            hint="spell the name in ASCII letters, digits and underscores",
        )
    cleaned = re.sub(r"[^a-z0-9]+", "_", spelled).strip("_")
    if not cleaned:
        raise UsageError(
            f"invalid migration name {name!r}", hint="use letters, digits and underscores"
        )
    return cleaned


def _layout_of(directory: Path, layout: str) -> Layout:
    if layout != "auto":
        return named(layout)
    return detect(list_directory(directory)) if directory.is_dir() else named("migrator")


def next_version(
    directory: Path, now: datetime | None = None, layout: str = "auto", *, timestamp: bool = False
) -> str:
    """The version text for the next migration in ``directory``: a UTC timestamp when
    ``timestamp`` is asked for or the newest version is one (digit versions)."""
    chosen = _layout_of(directory, layout)
    stamp_time = now or datetime.now(UTC)
    if chosen.scheme == "diesel":
        return stamp_time.strftime("%Y-%m-%d-%H%M%S")
    versions: list[str] = []
    if directory.is_dir():
        # Flyway's versions may stand in sub-directories too
        names = directory.rglob("*.sql") if chosen.scheme == "flyway" else directory.iterdir()
        for path in names:
            version = chosen.version_of_name(path.name)
            if version is not None:
                versions.append(version)
    if chosen.scheme == "flyway":
        if not versions:
            return "1"
        newest_text = max(versions, key=lambda text: version_key("flyway", text))
        head, _, last = newest_text.replace(".", "_").rpartition("_")
        return f"{head}_{int(last) + 1}" if head else str(int(last) + 1)
    stamp = stamp_time.strftime("%Y%m%d%H%M%S")
    if not versions:
        return stamp if timestamp else _FIRST_VERSION
    newest = max(versions, key=int)
    if timestamp or len(newest) == _TIMESTAMP_WIDTH:
        return stamp if int(stamp) > int(newest) else str(int(newest) + 1)
    return str(int(newest) + 1).zfill(len(newest))


def native_header(label: str, direction: str, transactional: bool) -> str:
    """The comment that opens a file of migrator's own layout."""
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
    layout: str = "auto",
    timestamp: bool = False,
) -> tuple[Path, ...]:
    """Write the next migration into ``directory`` (created if missing) in its layout
    (migrator's own: ``<next>_<name>.up.sql`` and ``.down.sql``); returns the paths
    written. Never overwrites a file."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(
            f"{directory} is a file, not a migrations directory",
            hint="pass the directory with --dir, or set dir in [tool.migrator]",
        )
    chosen = _layout_of(directory, layout)
    version = next_version(directory, now, layout=chosen.name, timestamp=timestamp)
    files = chosen.new_files(directory, version, migration_name(name), transactional)
    try:
        for path, text in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as handle:
                handle.write(text)
    except FileExistsError as exc:
        raise UsageError(f"{exc.filename} already exists", hint="pick another name") from None
    except OSError as exc:
        raise UsageError(f"cannot write into {directory}: {exc.strerror}") from None
    return tuple(path for path, _ in files)
