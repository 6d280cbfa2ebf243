"""Where each migration stands (``status``) and what is wrong (``verify``), computed
from the files, the ledger rows and the INVALID indexes. Pure: no database here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from migrator.db.indexes import InvalidIndex
from migrator.db.records import LedgerEntry
from migrator.durations import humanize_ms
from migrator.runner.progress import changed_since_stop
from migrator.runner.recovery import backfill_walked, describe_unfinished
from migrator.source.model import Migration, MigrationSet
from migrator.source.versions import is_repeatable_key, shown_version

MigrationState = Literal[
    "applied", "pending", "drifted", "failed", "partial", "running", "missing file"
]


@dataclass(frozen=True)
class MigrationStatus:
    """One line of ``migrate status``."""

    version: int
    name: str
    state: MigrationState
    path: str | None
    applied_at: datetime | None = None
    applied_by: str | None = None
    duration_ms: int | None = None
    phase: str | None = None
    transactional: bool | None = None
    reversible: bool | None = None
    statements_done: int | None = None
    statements_total: int | None = None
    error: str | None = None
    #: for an unfinished backfill: how far it got (rows, batches, last key)
    backfill: str | None = None
    #: recorded as applied by ``migrate baseline`` without running
    baselined: bool = False
    #: the version as the layout writes it (``1_2``, ``2019-09-12-100000``)
    version_text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "version_text": self.version_text or str(self.version),
            "name": self.name,
            "state": self.state,
            "path": self.path,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "applied_by": self.applied_by,
            "duration_ms": self.duration_ms,
            "phase": self.phase,
            "transactional": self.transactional,
            "reversible": self.reversible,
            "statements_done": self.statements_done,
            "statements_total": self.statements_total,
            "error": self.error,
            "backfill": self.backfill,
            "baselined": self.baselined,
        }


@dataclass(frozen=True)
class StatusReport:
    ledger: str
    migrations: tuple[MigrationStatus, ...]
    #: the layout of the migrations directory, and ``detected`` or where it was set
    layout: str = "migrator"
    layout_origin: str = "detected"
    #: directory entries that are not migrations by the layout's rules (``status -v``)
    ignored: tuple[str, ...] = ()

    @property
    def current_version(self) -> int | None:
        """The newest applied version."""
        applied = [
            m.version
            for m in self.migrations
            if m.state in ("applied", "drifted", "missing file")
            and not is_repeatable_key(m.version)
        ]
        return max(applied, default=None)

    @property
    def current_version_text(self) -> str | None:
        """The newest applied version as the layout writes it."""
        current = self.current_version
        return next(
            (m.version_text or str(m.version) for m in self.migrations if m.version == current),
            None,
        )

    @property
    def current_version_shown(self) -> str | None:
        """The newest applied version in messages (a number for plain digits)."""
        current = self.current_version
        return None if current is None else shown_version(current, self.current_version_text or "")

    def count(self, state: MigrationState) -> int:
        return sum(1 for m in self.migrations if m.state == state)

    @property
    def up_to_date(self) -> bool:
        """Nothing pending, failed, partial or running (``status --exit-code``)."""
        return not any(
            m.state in ("pending", "failed", "partial", "running") for m in self.migrations
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "layout": self.layout,
            "layout_origin": self.layout_origin,
            "ignored": list(self.ignored),
            "current_version": self.current_version,
            "current_version_text": self.current_version_text,
            "migrations": [m.to_json() for m in self.migrations],
        }


def _drifted(entry: LedgerEntry, migration: Migration) -> bool:
    if migration.repeatable:
        return False  # changed: pending again
    down = migration.down.checksum if migration.down else None
    return entry.up_checksum != migration.up.checksum or (
        entry.down_checksum is not None and entry.down_checksum != down
    )


def build_status(
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
    ledger: str,
    running_by: str | None = None,
    baselined: frozenset[int] = frozenset(),
) -> StatusReport:
    """Every version on disk or in the ledger, ordered by version. ``running_by``: who
    holds the migration lock; an unfinished run with no error recorded is then under
    way, not interrupted. ``baselined``: the versions ``migrate baseline`` recorded
    without running them."""
    files = migration_set.by_version()
    rows = []
    for version in sorted(set(files) | set(entries)):
        migration = files.get(version)
        entry = entries.get(version)
        path = str(migration.up.path) if migration else None
        if entry is None:
            assert migration is not None
            rows.append(
                MigrationStatus(
                    version,
                    migration.name,
                    "pending",
                    path,
                    phase=migration.phase,
                    transactional=migration.up.transactional,
                    reversible=migration.reversible,
                    version_text=migration_set.version_text(version),
                )
            )
            continue
        state: MigrationState
        if entry.unfinished:
            state = "running" if is_running(entry, running_by) else entry.state
        elif migration is None:
            state = "missing file"
        elif migration.repeatable and entry.up_checksum != migration.up.checksum:
            state = "pending"  # changed since applied: `up` runs it again
        elif _drifted(entry, migration):
            state = "drifted"
        else:
            state = "applied"
        rows.append(
            MigrationStatus(
                version,
                migration.name if migration else entry.name,
                state,
                path,
                applied_at=entry.applied_at,
                applied_by=entry.applied_by,
                duration_ms=entry.duration_ms,
                phase=entry.phase or (migration.phase if migration else None),
                transactional=entry.transactional,
                reversible=migration.reversible if migration else None,
                statements_done=entry.statements_done,
                statements_total=entry.statements_total,
                error=entry.error,
                backfill=backfill_walked(entry) if entry.unfinished else None,
                baselined=version in baselined and not entry.unfinished,
                version_text=migration_set.version_text(version),
            )
        )
    return StatusReport(
        ledger,
        tuple(rows),
        migration_set.layout,
        migration_set.layout_origin,
        tuple(str(path) for path in migration_set.ignored),
    )


def render_table(report: StatusReport, *, verbose: bool = False) -> str:
    """``migrate status`` as a plain-text table; ``verbose`` lists the directory
    entries that are not migrations."""
    header = ("VERSION", "NAME", "STATE", "APPLIED AT", "DURATION", "PHASE")
    lines = [header]
    for row in report.migrations:
        state: str = row.state
        if row.backfill is not None:
            state = f"{row.state} (backfill: {row.backfill})"
        elif row.state in ("failed", "partial", "running"):
            state = f"{row.state} ({row.statements_done}/{row.statements_total} statements)"
        elif row.baselined:
            state = "baselined" if row.state == "applied" else f"{row.state} (baselined)"
        lines.append(
            (
                row.version_text or str(row.version),
                row.name,
                state,
                row.applied_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if row.applied_at else "",
                humanize_ms(row.duration_ms) if row.duration_ms is not None else "",
                row.phase or "",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    applied = report.count("applied") + report.count("drifted")
    baselined = sum(1 for row in report.migrations if row.baselined)
    summary = (
        f"{applied} applied"
        + (f" ({baselined} baselined)" if baselined else "")
        + f", {report.count('pending')} pending"
        + "".join(
            f", {report.count(state)} {state}"
            for state in ("drifted", "failed", "partial", "running", "missing file")
            if report.count(state)
        )
        + f" (ledger {report.ledger})"
    )
    layout = f"layout {report.layout} ({report.layout_origin})"
    ignored = [f"ignored (not a migration of this layout): {path}" for path in report.ignored]
    tail = [layout, *ignored] if verbose else [layout]
    if not report.migrations:
        return "\n".join([f"no migrations (ledger {report.ledger})", *tail]) + "\n"
    return "\n".join([*text, "", summary, *tail]) + "\n"


VerifyKind = Literal[
    "drift",
    "missing-file",
    "out-of-order",
    "failed",
    "partial",
    "invalid-index",
    "changed-since-stop",
]


@dataclass(frozen=True)
class VerifyProblem:
    kind: VerifyKind
    message: str
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "message": self.message}


def is_running(entry: LedgerEntry, running_by: str | None) -> bool:
    """An unfinished run with no error recorded while another session holds the
    migration lock: that session is running it now."""
    return running_by is not None and entry.state == "partial" and not entry.error


#: what to do about an applied file that changed
_DRIFT_REMEDY = (
    "restore it from version control, or record the new checksum with `migrate repair --yes`"
)


def verify_problems(
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
    invalid: Sequence[InvalidIndex] = (),
    running_by: str | None = None,
) -> list[VerifyProblem]:
    """Everything ``migrate verify`` fails on, in version order."""
    files = migration_set.by_version()
    problems: list[VerifyProblem] = []
    applied_versions = [
        v for v, e in entries.items() if not e.unfinished and not is_repeatable_key(v)
    ]
    newest = max(applied_versions, default=None)
    for version in sorted(set(files) | set(entries)):
        migration = files.get(version)
        entry = entries.get(version)
        if entry is None:
            assert migration is not None
            if newest is not None and version < newest and not migration.repeatable:
                problems.append(
                    VerifyProblem(
                        "out-of-order",
                        f"{migration.up.path} is pending but older than the newest applied "
                        f"version {migration_set.shown_version(newest)}: check it does not depend "
                        "on order, or renumber it "
                        "before it ships",
                        version,
                    )
                )
            continue
        if entry.unfinished:
            kind: VerifyKind = "failed" if entry.state == "failed" else "partial"
            holder = running_by if is_running(entry, running_by) else None
            message = describe_unfinished(entry, migration, running_by=holder)
            problems.append(VerifyProblem(kind, message, version))
            changed = _changed_since_stop(entry, migration)
            if changed is not None:
                problems.append(VerifyProblem("changed-since-stop", changed, version))
            continue
        if migration is None:
            problems.append(
                VerifyProblem(
                    "missing-file",
                    f"version {migration_set.shown_version(version)} ({entry.name}) is applied "
                    "but its file is gone: restore it, or "
                    f"`migrate repair {migration_set.shown_version(version)} --forget --yes` "
                    "if abandoned",
                    version,
                )
            )
            continue
        if migration.repeatable:
            continue  # a changed repeatable is pending, not drift
        if entry.up_checksum != migration.up.checksum:
            problems.append(
                VerifyProblem(
                    "drift",
                    f"{migration.up.path} changed after it was applied: {_DRIFT_REMEDY}",
                    version,
                )
            )
        down = migration.down
        if entry.down_checksum is not None and (
            down is None or down.checksum != entry.down_checksum
        ):
            where = down.path if down else f"the down file of {migration.label}"
            what = "changed" if down else "was removed"
            problems.append(
                VerifyProblem(
                    "drift",
                    f"{where} {what} after the migration was applied: {_DRIFT_REMEDY}",
                    version,
                )
            )
    for index in invalid:
        problems.append(
            VerifyProblem(
                "invalid-index",
                f"{index.describe()} (a failed concurrent build): remove it with "
                f"{index.drop_statement}",
            )
        )
    return problems


def _changed_since_stop(entry: LedgerEntry, migration: Migration | None) -> str | None:
    """A file that no longer matches what its unfinished run completed: ``--resume``
    would refuse it."""
    if migration is None:
        return None
    migration_file = migration.up if entry.direction == "up" else migration.down
    if migration_file is None or (
        entry.direction == "up" and migration.up.directives.backfill is not None
    ):
        return None
    changed = changed_since_stop(entry, migration_file.statements, checksum=migration_file.checksum)
    if changed is None:
        return None
    return (
        f"{migration_file.path} changed since its run stopped: {changed}; `migrate "
        f"{entry.direction} --resume` will refuse it: restore the file, or settle it with "
        f"`migrate repair {migration.shown_version}`"
    )
