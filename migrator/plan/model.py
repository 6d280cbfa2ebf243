"""The values a plan is made of: steps, the migrations they are grouped into, and the
plan itself. Pure data; :mod:`migrator.plan.render` turns them into files."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from migrator.errors import ExitCode, MigratorError
from migrator.plan.facts import Deferred
from migrator.plan.row_conditions import Condition, RowChange
from migrator.source.backfill import BackfillSpec
from migrator.source.model import Phase
from migrator.sql.parse import ParsedStatement, parse_text

Mode = Literal["transaction", "no-transaction", "backfill"]


class CannotPlan(MigratorError):
    """The change cannot be made safe by the planner; nothing was written.

    Exit code 1 (like failed checks): the input is valid SQL, but the planner has found
    a reason it cannot turn it into phases a running application survives.
    """

    exit_code = ExitCode.FINDINGS


class UnusableChangeFile(CannotPlan):
    """The change file itself is unusable (syntax error, psql meta-command, no
    statement, BEGIN/COMMIT): exit code 2, like any other bad input file."""

    exit_code = ExitCode.USAGE


class NotInSchema(UnusableChangeFile):
    """The change names a column, index or enum type that the earlier migrations do
    not create (or adds a column that is there already): a mistake in the change file,
    exit code 2, reported with the file and line."""


#: the note of a statement that passes through unchanged
AS_WRITTEN = "as written"


def lint_ignored(sql: str, rule: str, reason: str) -> str:
    """``sql`` preceded by the lint-ignore that says why it breaks ``rule`` on purpose."""
    return f"-- migrate:lint-ignore {rule} -- {reason}\n{sql}"


class Slot(enum.IntEnum):
    """Where a step runs. Steps are grouped into migrations by slot, in this order;
    the comment of each says why it is separate from its neighbours."""

    #: additive catalog changes: one short transaction under lock_timeout
    EXPAND = 10
    #: ``ALTER TYPE ... ADD VALUE``: alone, so nothing else waits on it
    EXPAND_ENUM = 15
    #: concurrent index builds: no transaction, no lock_timeout (they block no client)
    EXPAND_CONCURRENT = 20
    #: statements passed through after a non-transactional one (keeps the file's order)
    EXPAND_LATE = 25
    #: before the first data change of the file: checks that the rows, as its data
    #: changes will leave them, satisfy what the plan enforces after them (one short
    #: read-only transaction; fails as the naive file would, before anything changed)
    BACKFILL_CHECK = 28
    #: batched data changes, one migration per backfill
    BACKFILL = 30
    #: ``ADD CONSTRAINT ... NOT VALID`` after the data is right (short, under lock_timeout)
    CONTRACT_PREPARE = 40
    #: ``VALIDATE CONSTRAINT``, concurrent index builds after a backfill: long, but
    #: they take SHARE UPDATE EXCLUSIVE only, which blocks no client
    CONTRACT_VALIDATE = 50
    #: ``DROP INDEX CONCURRENTLY``
    CONTRACT_DROP_INDEXES = 55
    #: the final swap or removal: one short transaction under lock_timeout, retried
    CONTRACT_SWAP = 60
    #: ``VALIDATE CONSTRAINT`` of what a swap had to add again ``NOT VALID`` (the
    #: foreign keys that reference a key swapped for its wider copy): a scan under SHARE
    #: UPDATE EXCLUSIVE, which blocks no client
    CONTRACT_REVALIDATE = 70

    @property
    def phase(self) -> Phase:
        if self < Slot.BACKFILL_CHECK:
            return "expand"
        if self <= Slot.BACKFILL:
            return "backfill"
        return "contract"

    @property
    def mode(self) -> Mode:
        if self in (
            Slot.EXPAND_CONCURRENT,
            Slot.CONTRACT_VALIDATE,
            Slot.CONTRACT_DROP_INDEXES,
            Slot.CONTRACT_REVALIDATE,
        ):
            return "no-transaction"
        if self == Slot.BACKFILL:
            return "backfill"
        return "transaction"


@dataclass(frozen=True)
class Step:
    """One statement of the plan, with what it costs and how to undo it."""

    slot: Slot
    sql: str
    #: the lock it takes and whether it scans or rewrites, for the file's comment
    note: str
    #: the statements that undo it, in the order they run (a down undoes the steps
    #: newest first); ``None``: cannot be undone
    undo: tuple[str, ...] | None = ()
    backfill: BackfillSpec | None = None
    #: ``(rule, reason)``: a lint rule this statement breaks on purpose, and why
    lint_ignore: tuple[str, str] | None = None

    @cached_property
    def statements(self) -> list[ParsedStatement] | None:
        """The statements of :attr:`sql` with their trees (kind and fields), parsed once,
        when first asked for (``None``: it does not parse); given, not parsed, for a
        statement of the file that runs as written (:meth:`written`)."""
        return parse_text(self.sql)

    def written(self, statement: ParsedStatement) -> Step:
        """This step, its SQL being ``statement`` of the change file as written: its
        tree is the one the file's parse gave (not parsed again)."""
        other = dataclasses.replace(self)
        other.__dict__["statements"] = [  # what cached_property would keep
            ParsedStatement(statement.kind, statement.fields, 0, len(self.sql))
        ]
        return other

    def but(self, **changes: Any) -> Step:
        """:func:`dataclasses.replace`, the parsed statements kept while the SQL stays."""
        other = dataclasses.replace(self, **changes)
        if other.sql == self.sql and "statements" in self.__dict__:
            other.__dict__["statements"] = self.__dict__["statements"]
        return other


@dataclass(frozen=True)
class Change:
    """One change of the input file and how the planner makes it safe."""

    #: what the developer wrote (one statement, or one subcommand of an ALTER TABLE)
    source: str
    #: a short name of the recipe used (``rename column``, ``pass through``)
    recipe: str
    steps: tuple[Step, ...]
    #: what must be deployed before each phase runs, by phase
    deploy_before: dict[Phase, str] = field(default_factory=dict)
    #: short name for file names (``rename_users_email``)
    label: str = "change"
    #: notes printed with the plan (what the planner could not check)
    warnings: tuple[str, ...] = ()
    #: what this change removes only in the contract phase, or adds only then: later
    #: changes of the file are planned knowing it
    deferred: tuple[Deferred, ...] = ()
    #: the rows it changes, for :mod:`.prechecks` (an ``UPDATE`` or ``DELETE`` of the
    #: file, a fill of NULLs): ``None`` when it changes none
    row_change: RowChange | None = None
    #: what it makes the rows satisfy from some migration on (NOT NULL, a check, a
    #: unique key), for :mod:`.prechecks`
    conditions: tuple[Condition, ...] = ()
    #: its expand steps take ACCESS EXCLUSIVE on an existing table, held until they
    #: commit, and nothing after them must commit with them: the expand migration ends
    #: after this change (the next change's expand steps get a migration of their own)
    ends_expand: bool = False
    #: its expand steps cannot run under the ACCESS EXCLUSIVE lock the expand migration
    #: so far holds (a scan), and nothing after it completes what that migration
    #: locked: a new expand migration starts with it
    starts_expand: bool = False
    #: the tables its contract swap changes together (a key and the tables whose foreign
    #: keys reference it): changes whose swaps share a table swap in one transaction
    swap_tables: frozenset[tuple[str, str]] = frozenset()
    #: it changes what an insert that leaves a column out gets (``SET DEFAULT``, ``DROP
    #: DEFAULT``, ``DROP EXPRESSION``), from the migration it commits in
    changes_defaults: bool = False
    #: the default it changes is of a column the file adds (old code does not insert
    #: into it; the default stays in the migration that adds the column)
    default_of_new_column: bool = False

    @property
    def passthrough(self) -> bool:
        return self.recipe == "pass through"

    @property
    def changes_old_inserts(self) -> bool:
        """It changes, at the moment it commits, what old code's writes get (a default
        change of a column old code inserts into, a dropped expression)."""
        return self.changes_defaults and not self.default_of_new_column


@dataclass(frozen=True)
class PlannedMigration:
    """One migration file pair of the plan."""

    name: str
    slot: Slot
    steps: tuple[Step, ...]
    #: the changes it belongs to (indexes into :attr:`Plan.changes`)
    changes: tuple[int, ...]
    #: what must be deployed before it runs ("" when nothing)
    deploy_before: str = ""

    @property
    def phase(self) -> Phase:
        return self.slot.phase

    @property
    def mode(self) -> Mode:
        return self.slot.mode

    @property
    def reversible(self) -> bool:
        return all(step.undo is not None for step in self.steps)


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    migrations: tuple[PlannedMigration, ...]
    #: expand migrations started because a change before them ended one
    #: (:attr:`Change.ends_expand`)
    lock_splits: int = 0

    @property
    def all_safe_already(self) -> bool:
        """Every statement passes through as written, and none had to end its
        transaction (:attr:`lock_splits`): the planner has nothing to change."""
        return self.as_written and not self.lock_splits

    @property
    def as_written(self) -> bool:
        """Every statement passes through as written (perhaps split into several
        migrations: see :attr:`Change.ends_expand`)."""
        return all(change.passthrough for change in self.changes)
