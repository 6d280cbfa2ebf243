"""``migrate baseline --from TOOL``: adopt a database another tool migrated.

:func:`plan_adoption` is pure: it matches what the other tool's history table says
it applied (a :class:`~migrator.db.foreign_history.ForeignHistory`) to the migrations
found here, by version as that tool compares them, and says what matched, what is
already in our ledger, what the other tool applied that has no file here, and which
files it never applied (``migrate up`` runs those next). :func:`baseline_from` reads
the table under the migration lock and records the matched migrations as baselined.
The other tool's table is left exactly as it is.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from migrator.config import Settings
from migrator.db.foreign_history import ForeignHistory, flyway_version_key, read_history
from migrator.db.records import LedgerEntry
from migrator.errors import RefusedState
from migrator.runner.report import Reporter
from migrator.source.model import Migration, MigrationSet


@dataclass(frozen=True)
class Adoption:
    """What ``baseline --from`` records, and what it leaves."""

    tool: str
    table: str
    #: migrations the other tool applied, recorded as baselined
    adopted: tuple[Migration, ...] = ()
    #: migrations the other tool applied that our ledger already has
    already: tuple[Migration, ...] = ()
    #: what the other tool applied that no file here has (``version 3``,
    #: ``repeatable 'views'``)
    unmatched: tuple[str, ...] = ()
    #: files here the other tool never applied: ``migrate up`` runs them
    pending: tuple[Migration, ...] = ()
    #: files that differ from what the other tool ran (by its checksum), one line each
    changed: tuple[str, ...] = ()


_DIGITS = re.compile(r"\d+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _number_or_text(version: str) -> Hashable:
    return int(version) if _DIGITS.fullmatch(version) else version


def foreign_key(tool: str, version: str) -> Hashable:
    """A version as ``tool`` wrote it in its table, in a form that compares equal to
    :func:`migration_key` of the same migration."""
    if tool == "flyway":
        return flyway_version_key(version)
    return _number_or_text(version)


def migration_key(tool: str, migration: Migration) -> Hashable:
    """The key ``tool`` gives to ``migration``: Flyway compares version parts as numbers
    (``1_2`` = ``1.2``); diesel records the folder name up to its first ``_`` without
    ``-``; the others record the number before the first ``_``."""
    text = migration.version_text or str(migration.version)
    if tool == "flyway":
        try:
            return flyway_version_key(text)
        except ValueError:
            return (migration.version,)
    if tool == "diesel":
        if migration.up.path.name == "up.sql":
            text = migration.up.path.parent.name.split("_", 1)[0]
        return _number_or_text(text.replace("-", ""))
    return _number_or_text(text) if _DIGITS.fullmatch(text) else migration.version


def flyway_checksum(text: str) -> int:
    """Flyway's checksum of a file: CRC-32 over its lines' UTF-8 bytes without their
    line breaks (so LF and CRLF agree), the byte-order mark dropped, as a signed int."""
    crc = 0
    for line in _LINE_BREAK.split(text.removeprefix("\ufeff")):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def sqlx_checksum(text: str) -> bytes:
    """sqlx's checksum of a file: SHA-384 of its SQL."""
    return hashlib.sha384(text.encode("utf-8")).digest()


def _changed(tool: str, migration: Migration, checksum: int | bytes | None) -> bool:
    if checksum is None:
        return False
    if tool == "flyway":
        return checksum != flyway_checksum(migration.up.text)
    if tool == "sqlx":
        return checksum != sqlx_checksum(migration.up.text)
    return False


def plan_adoption(
    history: ForeignHistory,
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
) -> Adoption:
    """Match ``history`` to the migrations here. Raises :class:`RefusedState` when the
    history records a run that failed part-way (a dirty golang-migrate version, a
    Flyway or sqlx row with ``success = false``): adopting it would record as applied
    a migration that is half done."""
    tool = history.tool
    if history.failed:
        raise RefusedState(
            f"cannot adopt {tool}'s history: {history.failed[0]}",
            hint="nothing was recorded",
            problems=history.failed[1:],
        )
    versioned = [m for m in migration_set.migrations if not m.repeatable]
    ours = {migration_key(tool, migration): migration for migration in versioned}
    matched: dict[int, Migration] = {}
    changed: list[str] = []
    unmatched: list[str] = []
    for recorded in history.applied:
        migration = ours.get(foreign_key(tool, recorded.version))
        if migration is None:
            unmatched.append(f"version {recorded.version}")
            continue
        matched[migration.version] = migration
        if _changed(tool, migration, recorded.checksum):
            changed.append(
                f"{migration.up.path.name} differs from the file {tool} ran as version "
                f"{recorded.version} (its checksum): recorded with the file as it is now"
            )
    if history.up_to is not None:
        limit = foreign_key(tool, history.up_to)
        below = [
            migration
            for key, migration in ours.items()
            if type(key) is type(limit) and key <= limit  # type: ignore[operator]
        ]
        matched.update({migration.version: migration for migration in below})
        if limit not in ours:
            unmatched.append(f"version {history.up_to}")
    _match_repeatables(history, migration_set, matched, changed, unmatched)
    chosen = sorted(matched.values(), key=lambda migration: migration.version)
    return Adoption(
        tool=tool,
        table=history.table,
        adopted=tuple(m for m in chosen if m.version not in entries),
        already=tuple(m for m in chosen if m.version in entries),
        unmatched=tuple(unmatched),
        pending=tuple(
            m
            for m in migration_set.migrations
            if m.version not in matched and m.version not in entries
        ),
        changed=tuple(changed),
    )


def _match_repeatables(
    history: ForeignHistory,
    migration_set: MigrationSet,
    matched: dict[int, Migration],
    changed: list[str],
    unmatched: list[str],
) -> None:
    """Flyway's repeatables (``R__views.sql``, recorded by description ``views``): one
    whose file is as Flyway last ran it is adopted; a changed one is left for ``up``
    to run again, as Flyway would."""
    ours = {m.name.replace("_", " "): m for m in migration_set.migrations if m.repeatable}
    for recorded in history.repeatables:
        migration = ours.get(str(recorded.description))
        if migration is None:
            unmatched.append(f"repeatable {recorded.description!r}")
        elif _changed(history.tool, migration, recorded.checksum):
            changed.append(
                f"{migration.up.path.name} changed since {history.tool} last ran it: not "
                "adopted, `migrate up` runs it again (as Flyway would)"
            )
        else:
            matched[migration.version] = migration


async def baseline_from(
    settings: Settings,
    tool: str,
    *,
    table: str | None = None,
    reporter: Reporter | None = None,
) -> Adoption:
    """Record as baselined every migration ``tool``'s history table says it applied
    (see :func:`plan_adoption`), in one transaction under the migration lock. The
    other tool's table is only read."""
    from migrator.runner.flows import database_session, load_migrations, refuse_unfinished

    migration_set = load_migrations(settings)
    async with database_session(settings, locked=True, reporter=reporter) as db:
        conn, ledger = db.control, db.ledger
        entries = await ledger.entries(conn)
        refuse_unfinished(entries)
        history = await read_history(conn, tool, table)
        adoption = plan_adoption(history, migration_set, entries)
        if adoption.adopted:
            await ledger.ensure(conn)
            await ledger.record_baseline(
                conn,
                adoption.adopted,
                detail=f"baseline --from {tool} ({history.table}): recorded as applied "
                "without running",
            )
    return adoption
