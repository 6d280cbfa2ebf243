"""Getting out of a failed or interrupted run: what to tell the user, and what
``migrate repair`` would change in the ledger. Pure: no database access here.

A transactional migration never needs this (its failure rolled everything back).
A ``-- migrate:no-transaction`` migration that stopped part-way leaves a ledger row
in state ``failed`` (an error was recorded) or ``partial`` (interrupted: killed,
connection lost), with ``statements_done`` statements completed. Two ways out:

- ``migrate up --resume`` (``down --resume`` for a revert) continues at the first
  statement that did not complete;
- ``migrate repair`` after a human finished or undid the work by hand:
  ``--mark-applied`` records the migration as applied, ``--forget`` removes its row
  (it counts as not applied). Without ``--yes`` it only shows the change.

``repair`` also records new checksums for applied files that changed on disk (drift),
and with ``--forget VERSION`` removes the row of a version whose file is gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from migrator.db.indexes import InvalidIndex
from migrator.db.records import LedgerEntry
from migrator.errors import RefusedState, UsageError
from migrator.source.model import Migration, MigrationSet
from migrator.source.segments import transaction_control

RepairChoice = Literal["mark-applied", "forget"]
RepairKind = Literal["mark-applied", "forget", "update-checksums"]


def failed_statement_line(entry: LedgerEntry, migration: Migration | None) -> str:
    """``path:line`` (or a statement number) of the statement a run stopped at."""
    if migration is None:
        return f"statement {entry.statements_done + 1}"
    migration_file = migration.up if entry.direction == "up" else migration.down
    if migration_file is None:
        return f"statement {entry.statements_done + 1}"
    statements = migration_file.statements
    if entry.statements_done < len(statements):
        statement = statements[entry.statements_done]
        return (
            f"{migration_file.path}:{statement.line} "
            f"(statement {entry.statements_done + 1} of {len(statements)})"
        )
    return f"{migration_file.path} (after its last statement)"


def in_doubt(entry: LedgerEntry, migration: Migration | None) -> str | None:
    """For a no-transaction run that was interrupted (``partial``: no error recorded),
    the statement whose outcome the ledger cannot know, as a phrase; ``None`` when
    there is none. Each of its statements commits on its own and its progress is
    written just after it, so a kill, a lost connection or a crash between the two
    leaves the statement after the recorded ones done or not done: ``--resume`` runs it
    again. (A ``BEGIN ... COMMIT`` block of the file, a segment of a file with commit
    points and a backfill batch commit with their progress: never in doubt.)"""
    if entry.state != "partial" or entry.transactional or backfill_walked(entry) is not None:
        return None
    migration_file = None
    if migration is not None:
        migration_file = migration.up if entry.direction == "up" else migration.down
    if migration_file is not None:
        statements = migration_file.statements
        if entry.statements_done >= len(statements):
            return None
        opens = transaction_control(statements[entry.statements_done])
        if opens is not None and opens.kind == "begin":
            return None  # a block of the file commits with its record
    return (
        f"{failed_statement_line(entry, migration)} may have completed before the run "
        "stopped (it commits on its own; its progress is written after it)"
    )


def describe_unfinished(
    entry: LedgerEntry, migration: Migration | None, *, running_by: str | None = None
) -> str:
    """One sentence: which run stopped where, and why; with ``running_by`` (who holds
    the migration lock), the run has not stopped: it is under way."""
    label = migration.label if migration else f"{entry.version}_{entry.name}"
    if running_by is not None:
        verb = "applied" if entry.direction == "up" else "reverted"
        return (
            f"{label} is being {verb} right now by {running_by} "
            f"({entry.statements_done} statement(s) done so far): wait for it and check again"
        )
    what = "applying" if entry.direction == "up" else "reverting"
    where = failed_statement_line(entry, migration)
    if entry.state == "failed":
        cause = f"failed: {entry.error}" if entry.error else "failed"
    else:
        cause = "was interrupted (no error recorded: process killed or connection lost)"
    walked = backfill_walked(entry)
    if walked is not None:
        return f"{what} {label} {cause}; its backfill stopped after {walked}"
    doubt = in_doubt(entry, migration)
    return (
        f"{what} {label} {cause}; it stopped at {where} with "
        f"{entry.statements_done} statement(s) done"
        + ("; that statement may have completed: `--resume` runs it again" if doubt else "")
    )


def backfill_walked(entry: LedgerEntry) -> str | None:
    """How far an unfinished backfill got (``None``: the entry is no backfill)."""
    progress = entry.progress or {}
    if not progress.get("backfill"):
        return None
    rows, batches, key = (
        progress.get("rows_done", 0),
        progress.get("batches", 0),
        progress.get("last_key"),
    )
    where = f", last key {key}" if key is not None else ", before its first batch"
    return f"{rows} row(s) in {batches} batch(es){where}"


def invalid_index_advice(invalid: Sequence[InvalidIndex]) -> str:
    """What to run to drop INVALID indexes left by failed concurrent builds (a
    sentence that ends with the statements, so it goes last in a message)."""
    if not invalid:
        return ""
    names = ", ".join(index.describe() for index in invalid)
    drops = " ".join(index.drop_statement for index in invalid)
    return f"the database has {names}; remove it with: {drops}"


def _shown(entry: LedgerEntry, migration: Migration | None) -> str:
    """The version in messages: as its file names it (a Flyway ``1_2``, not its key)."""
    return migration.shown_version if migration is not None else str(entry.version)


def unfinished_refusal(
    entry: LedgerEntry,
    migration: Migration | None,
    invalid: Sequence[InvalidIndex] = (),
    *,
    attempted: str = "up",
) -> RefusedState:
    """The error ``up``/``down`` raise while a no-transaction run is unfinished."""
    resume = "up --resume" if entry.direction == "up" else "down --resume"
    ways = [
        f"continue from that statement with `migrate {resume}`",
        f"or finish/undo it by hand, then `migrate repair {_shown(entry, migration)} "
        "--mark-applied` or `--forget` (add --yes to apply)",
    ]
    if invalid:
        ways.append(invalid_index_advice(invalid))
    return RefusedState(
        f"cannot run `migrate {attempted}`: {describe_unfinished(entry, migration)}",
        hint="; ".join(ways),
    )


@dataclass(frozen=True)
class RepairChange:
    """One ledger change ``repair`` proposes."""

    kind: RepairKind
    version: int
    name: str
    #: what is wrong now, in one sentence
    problem: str
    #: what the change does to the ledger, in one sentence
    change: str
    #: the migration files (needed to record checksums); ``None`` when the file is gone
    migration: Migration | None = None


def _default_choice(entry: LedgerEntry) -> RepairChoice | None:
    """The only sensible choice when no statement had completed yet."""
    if entry.statements_done == 0:
        return "forget" if entry.direction == "up" else "mark-applied"
    return None


def _unfinished_change(
    entry: LedgerEntry, migration: Migration | None, choice: RepairChoice | None
) -> RepairChange:
    problem = describe_unfinished(entry, migration)
    choice = choice or _default_choice(entry)
    if choice is None:
        raise UsageError(
            f"{problem}. Choose what is true now",
            hint=f"`migrate repair {_shown(entry, migration)} --mark-applied` if the migration's "
            f"changes are all in place (finished by hand), or `--forget` if none are "
            "(undone by hand)",
        )
    if choice == "mark-applied":
        if migration is None:
            raise UsageError(
                f"cannot mark version {_shown(entry, migration)} applied: its file is gone",
                hint="restore the file, or use --forget",
            )
        change = f"record {migration.label} as applied (state {entry.state} -> applied)"
    else:
        change = (
            f"remove the row of version {_shown(entry, migration)} ({entry.name}): "
            "it will count as not applied"
        )
    return RepairChange(choice, entry.version, entry.name, problem, change, migration)


def plan_repair(
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
    *,
    version: int | None = None,
    choice: RepairChoice | None = None,
) -> list[RepairChange]:
    """The ledger changes that ``repair`` would make (empty: nothing to repair)."""
    files = migration_set.by_version()
    if version is not None and version not in entries:
        raise UsageError(
            f"version {migration_set.shown_version(version)} is not in the ledger",
            hint="`migrate status` lists the versions the ledger holds",
        )
    selected = {v: e for v, e in entries.items() if version is None or v == version}
    unfinished = [entry for entry in selected.values() if entry.unfinished]
    if unfinished:
        return [_unfinished_change(e, files.get(e.version), choice) for e in unfinished]
    changes: list[RepairChange] = []
    for entry in selected.values():
        migration = files.get(entry.version)
        if choice == "forget" and version is not None:
            gone = " but its file is gone" if migration is None else ""
            changes.append(
                RepairChange(
                    "forget",
                    entry.version,
                    entry.name,
                    f"version {_shown(entry, migration)} ({entry.name}) is applied{gone}",
                    f"remove the row of version {_shown(entry, migration)}: it will count as not "
                    "applied",
                    migration,
                )
            )
            continue
        if migration is None:
            continue
        down_checksum = migration.down.checksum if migration.down else None
        if entry.up_checksum != migration.up.checksum or entry.down_checksum != down_checksum:
            changes.append(
                RepairChange(
                    "update-checksums",
                    entry.version,
                    entry.name,
                    f"{migration.label} changed on disk after it was applied (checksum drift)",
                    "record the files' current checksums",
                    migration,
                )
            )
    if choice == "mark-applied" and not changes:
        raise UsageError(
            "--mark-applied is for a failed or partial run, and there is none",
            hint="use `migrate baseline V` to record migrations as applied without running them",
        )
    return changes
