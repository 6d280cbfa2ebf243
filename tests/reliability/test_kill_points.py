"""SIGKILL of a real ``migrate up`` (and ``down``) process at exact points: inside
transactional migrations, at their COMMIT, queued behind a table lock, before, between
and during the statements of a no-transaction migration (inside ``CREATE INDEX
CONCURRENTLY``), and at each ledger write.

A killed client leaves its server session running the statement it had sent (the
server notices the dead socket only when it next talks to the client). Each point is
run with that orphaned statement either *terminated* (as an administrator, a restart
or ``client_connection_check_interval`` would) or left to *finish*. After the kill:

- the ledger agrees with the schema: the database holds exactly the migrations the
  ledger says are applied, plus, for a no-transaction migration marked partial, its
  completed statements (and at most the one in flight);
- ``migrate verify`` reports exactly that;
- the documented recovery (``up``, ``up --resume``, ``repair``, or dropping the INVALID
  index the error names) reaches head with the schema of an uninterrupted run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import psycopg
import pytest

from migrator.db.ledger import Ledger
from tests.helpers import Result
from tests.reliability import kill_corpus as kc
from tests.reliability.control import GATE_FUNCTION, LEDGER_GATE_KEY, Control, wait_for
from tests.reliability.database_state import (
    assert_same_schema,
    index_validity,
    ledger_progress,
    ledger_state,
    schema_of,
    with_index_valid,
)
from tests.reliability.processes import PATIENT, MigrateProcess, run_in_process
from tests.reliability.reference import (
    References,
    Row,
    SchemaAt,
    applied,
    backfilled_rows,
    check_at_head,
    partial,
)

Orphan = Literal["terminate", "finish"]


# -- where a run is held --------------------------------------------------------------


class Pause(Protocol):
    def prepare(self, ctl: Control) -> None:
        """Before the run starts."""

    def reach(self, ctl: Control, process: MigrateProcess) -> int:
        """Wait until the run is held at the point; return its backend's pid."""

    def let_finish(self, ctl: Control) -> None:
        """Let the statement the killed process left behind run to its end."""


@dataclass(frozen=True)
class AtGate:
    """A gate statement in a migration file."""

    key: int

    def prepare(self, ctl: Control) -> None:
        ctl.close_gate(self.key)

    def reach(self, ctl: Control, process: MigrateProcess) -> int:
        return wait_for(lambda: ctl.gate_waiter(self.key), f"gate {self.key}", process)

    def let_finish(self, ctl: Control) -> None:
        ctl.open_gate(self.key)


@dataclass(frozen=True)
class AtTrigger:
    """A write held by a trigger the test puts on a table: a ledger write, or a row
    of a backfill batch.

    ``trigger`` is the trigger's timing, event, table and condition, e.g. ``BEFORE
    UPDATE ON {ledger} FOR EACH ROW WHEN (...)`` (``{ledger}``, ``{history}``,
    ``{accounts}``); a ``CONSTRAINT`` trigger that is ``INITIALLY DEFERRED`` fires
    inside COMMIT."""

    trigger: str

    def prepare(self, ctl: Control) -> None:
        ledger = Ledger()
        ctl.conn.execute(ledger.create_sql())  # type: ignore[arg-type]
        ctl.install_gate_functions()
        clause = self.trigger.format(
            ledger=ledger.sql_name, history=ledger.history_sql_name, accounts="public.accounts"
        )
        kind = "CONSTRAINT TRIGGER" if "DEFERRED" in clause else "TRIGGER"
        ctl.conn.execute(
            f"CREATE {kind} reliability_gate {clause} "  # type: ignore[arg-type]
            f"EXECUTE FUNCTION {GATE_FUNCTION}('{LEDGER_GATE_KEY}')"
        )
        ctl.close_gate(LEDGER_GATE_KEY)

    def reach(self, ctl: Control, process: MigrateProcess) -> int:
        return wait_for(lambda: ctl.gate_waiter(LEDGER_GATE_KEY), "the ledger write", process)

    def let_finish(self, ctl: Control) -> None:
        ctl.open_gate(LEDGER_GATE_KEY)


#: an open snapshot: a concurrent build waits for it after building, before it marks
#: the index valid
OLD_SNAPSHOT = ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SELECT 1")
#: a writer on the table: a concurrent build waits for it before it builds anything
WRITER = ("LOCK TABLE accounts IN ROW EXCLUSIVE MODE",)


@dataclass(frozen=True)
class InIndexBuild:
    """Inside ``CREATE INDEX CONCURRENTLY``, waiting in ``phase`` for a session the
    test opens (running ``holder``) when the run is at gate ``after``, just before the
    build starts. The index exists in the catalog, not valid yet."""

    after: int
    phase: str = "waiting for old snapshots"
    holder: tuple[str, ...] = OLD_SNAPSHOT

    def prepare(self, ctl: Control) -> None:
        ctl.close_gate(self.after)

    def reach(self, ctl: Control, process: MigrateProcess) -> int:
        wait_for(lambda: ctl.gate_waiter(self.after), f"gate {self.after}", process)
        ctl.hold(*self.holder)
        ctl.open_gate(self.after)
        return wait_for(
            lambda: ctl.index_build_phase(self.phase), f"index build: {self.phase}", process
        )

    def let_finish(self, ctl: Control) -> None:
        ctl.release_all()


@dataclass(frozen=True)
class InLockQueue:
    """Queued for a lock on ``table`` that another session holds (reached through
    gate ``after``, when the holder takes its lock)."""

    after: int
    table: str

    def prepare(self, ctl: Control) -> None:
        ctl.close_gate(self.after)

    def reach(self, ctl: Control, process: MigrateProcess) -> int:
        wait_for(lambda: ctl.gate_waiter(self.after), f"gate {self.after}", process)
        ctl.hold(f"SELECT count(*) FROM {self.table}")
        ctl.open_gate(self.after)
        return wait_for(
            lambda: ctl.relation_lock_waiter(self.table), f"queued on {self.table}", process
        )

    def let_finish(self, ctl: Control) -> None:
        ctl.release_all()


# -- what must hold afterwards ---------------------------------------------------------


@dataclass(frozen=True)
class After:
    """The state right after the kill (and the orphaned statement's end)."""

    ledger: tuple[Row, ...]
    schema: SchemaAt
    #: an index left INVALID by the interrupted build (``public.name``)
    invalid: str | None = None
    #: kinds of problem ``migrate verify`` must report (none: exit 0)
    verify: tuple[str, ...] = ()
    #: rows the backfill has set (committed batches only)
    backfilled: int | None = None


@dataclass(frozen=True)
class Run:
    """A recovery command run in-process, its exit code and a phrase of its output."""

    args: tuple[str, ...]
    code: int = 0
    says: str = ""


@dataclass(frozen=True)
class DropNamedIndex:
    """Run the ``DROP INDEX CONCURRENTLY`` statement the previous error printed."""


Recovery = Run | DropNamedIndex


@dataclass(frozen=True)
class KillPoint:
    name: str
    pause: Pause
    orphan: Orphan
    after: After
    recovery: tuple[Recovery, ...]
    #: the command that is killed
    command: tuple[str, ...] = ("up",)
    #: in-process commands run before it (each must exit 0)
    before: tuple[tuple[str, ...], ...] = ()
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}/{self.orphan}"


UP = Run(("up",))
RESUME = Run(("up", "--resume"))
REFUSED = Run(("up",), 4, "continue from that statement with `migrate up --resume`")
RESUME_REFUSED_INVALID = Run(("up", "--resume"), 4, "drop it first with: DROP INDEX CONCURRENTLY")


def _ledger_trigger(event: str, table: str, condition: str, deferred: bool = False) -> str:
    timing = "AFTER" if deferred else "BEFORE"
    defer = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    return f"{timing} {event} ON {{{table}}}{defer} FOR EACH ROW WHEN ({condition})"


V2_COMMIT = AtTrigger(
    _ledger_trigger("INSERT", "history", "NEW.version = 2 AND NEW.action = 'up'", deferred=True)
)
V3_ROW_STARTED = AtTrigger(
    _ledger_trigger("INSERT", "ledger", "NEW.version = 3 AND NEW.state = 'partial'")
)
V3_EMAIL_PROGRESS = AtTrigger(
    _ledger_trigger("UPDATE", "ledger", "NEW.version = 3 AND NEW.statements_done = 2")
)
V3_ROW_APPLIED = AtTrigger(
    _ledger_trigger("INSERT", "ledger", "NEW.version = 3 AND NEW.state = 'applied'")
)
V5_PROGRESS = AtTrigger(
    _ledger_trigger("UPDATE", "ledger", "NEW.version = 5 AND NEW.statements_done = 1")
)
EMAIL_BUILD = InIndexBuild(after=kc.INDEXES_FIRST_STATEMENT)
EMAIL_BUILD_START = InIndexBuild(
    after=kc.INDEXES_FIRST_STATEMENT, phase="waiting for writers before build", holder=WRITER
)
LOWER_BUILD = InIndexBuild(after=kc.BETWEEN_INDEXES)
NOTHING = After((), SchemaAt(0))
AFTER_V1 = After(applied(1), SchemaAt(1))


def _points() -> list[KillPoint]:
    both: tuple[Orphan, Orphan] = ("terminate", "finish")
    points: list[KillPoint] = []
    # transactional migrations: whatever the orphan does, nothing of them stays
    for name, gate, after, orphans in (
        ("accounts-created", kc.ACCOUNTS_CREATED, NOTHING, both),
        ("accounts-loaded", kc.ACCOUNTS_LOADED, NOTHING, both),
        ("events-created", kc.EVENTS_CREATED, AFTER_V1, both),
    ):
        for orphan in orphans:
            slow = name in ("accounts-created", "accounts-loaded") and orphan == "finish"
            points.append(KillPoint(name, AtGate(gate), orphan, after, (UP,), slow=slow))
    points += [
        # killed while COMMIT waits: either it never commits, or it commits whole
        KillPoint("events-commit", V2_COMMIT, "terminate", AFTER_V1, (UP,)),
        KillPoint("events-commit", V2_COMMIT, "finish", After(applied(1, 2), SchemaAt(2)), (UP,)),
    ]
    queued = InLockQueue(kc.BEFORE_ACCOUNTS_ALTER, "accounts")
    for orphan in both:
        points.append(
            KillPoint(
                "accounts-lock-queue", queued, orphan, After(applied(1, 2, 3), SchemaAt(3)), (UP,)
            )
        )
    # the no-transaction migration 003
    in_v3 = applied(1, 2)
    points += [
        KillPoint(
            "indexes-row-started", V3_ROW_STARTED, "terminate", After(in_v3, SchemaAt(2)), (UP,)
        ),
        KillPoint(
            "indexes-row-started",
            V3_ROW_STARTED,
            "finish",
            After((*in_v3, partial(3, 0)), SchemaAt(2), verify=("partial",)),
            (
                REFUSED,
                Run(("repair",), 0, "remove the row of version 3"),
                Run(("repair", "--yes"), 0, "repaired: 1 ledger change(s) applied"),
                UP,
            ),
        ),
    ]
    for orphan in both:
        points.append(
            KillPoint(
                "indexes-first-statement",
                AtGate(kc.INDEXES_FIRST_STATEMENT),
                orphan,
                After((*in_v3, partial(3, 0)), SchemaAt(2), verify=("partial",)),
                (REFUSED, RESUME),
                slow=orphan == "finish",
            )
        )
    invalid_email = After(
        (*in_v3, partial(3, 1)),
        SchemaAt(2, 3, 2),
        invalid="public.accounts_email",
        verify=("partial", "invalid-index"),
    )
    points += [
        KillPoint(
            "email-index-build",
            EMAIL_BUILD,
            "terminate",
            invalid_email,
            (RESUME_REFUSED_INVALID, DropNamedIndex(), RESUME),
        ),
        KillPoint(
            "email-index-build",
            EMAIL_BUILD,
            "finish",
            After((*in_v3, partial(3, 1)), SchemaAt(2, 3, 2), verify=("partial",)),
            (REFUSED, RESUME),
        ),
        KillPoint(
            "email-index-build-start",
            EMAIL_BUILD_START,
            "terminate",
            invalid_email,
            (RESUME_REFUSED_INVALID, DropNamedIndex(), RESUME),
            slow=True,
        ),
        KillPoint(
            "email-index-progress",
            V3_EMAIL_PROGRESS,
            "terminate",
            After((*in_v3, partial(3, 1)), SchemaAt(2, 3, 2), verify=("partial",)),
            (RESUME,),
        ),
        KillPoint(
            "email-index-progress",
            V3_EMAIL_PROGRESS,
            "finish",
            After((*in_v3, partial(3, 2)), SchemaAt(2, 3, 2), verify=("partial",)),
            (RESUME,),
        ),
    ]
    for orphan in both:
        points.append(
            KillPoint(
                "between-indexes",
                AtGate(kc.BETWEEN_INDEXES),
                orphan,
                After((*in_v3, partial(3, 2)), SchemaAt(2, 3, 2), verify=("partial",)),
                (RESUME,),
                slow=orphan == "finish",
            )
        )
    points += [
        KillPoint(
            "lower-index-build",
            LOWER_BUILD,
            "terminate",
            After(
                (*in_v3, partial(3, 3)),
                SchemaAt(2, 3, 4),
                invalid="public.accounts_email_lower",
                verify=("partial", "invalid-index"),
            ),
            (RESUME_REFUSED_INVALID, DropNamedIndex(), RESUME),
        ),
        KillPoint(
            "lower-index-build",
            LOWER_BUILD,
            "finish",
            After((*in_v3, partial(3, 3)), SchemaAt(2, 3, 4), verify=("partial",)),
            (RESUME,),
            slow=True,
        ),
        KillPoint(
            "indexes-row-applied",
            V3_ROW_APPLIED,
            "terminate",
            After((*in_v3, partial(3, 5)), SchemaAt(2, 3, 5), verify=("partial",)),
            (RESUME,),
        ),
        KillPoint(
            "indexes-row-applied",
            V3_ROW_APPLIED,
            "finish",
            After(applied(1, 2, 3), SchemaAt(3)),
            (UP,),
            slow=True,
        ),
        # 005 is not idempotent: the in-flight build finished, so resuming fails with
        # "already exists"; the build is complete, so `repair --mark-applied` is right
        KillPoint(
            "events-at-progress",
            V5_PROGRESS,
            "terminate",
            After((*applied(1, 2, 3, 4), partial(5, 0)), SchemaAt(4, 5, 1), verify=("partial",)),
            (
                Run(("up", "--resume"), 4, 'relation "events_at" already exists'),
                Run(
                    ("repair", "5", "--mark-applied", "--yes"), 0, "record 005_events_at as applied"
                ),
            ),
        ),
        KillPoint(
            "events-at-progress",
            V5_PROGRESS,
            "finish",
            After((*applied(1, 2, 3, 4), partial(5, 1)), SchemaAt(4, 5, 1), verify=("partial",)),
            (REFUSED, RESUME),
            slow=True,
        ),
    ]
    # reverting: `down --to 2` killed between the two index drops of 003
    for orphan in both:
        points.append(
            KillPoint(
                "down-between-drops",
                AtGate(kc.BETWEEN_INDEX_DROPS),
                orphan,
                After((*in_v3, partial(3, 1, "down")), SchemaAt(2, 3, 2), verify=("partial",)),
                (
                    Run(("up",), 4, "`migrate down --resume`"),
                    Run(("down", "--resume"), 0, "reverted 1 migration; now at version 2"),
                    UP,
                ),
                command=("down", "--to", "2"),
                before=(("up",),),
                slow=orphan == "finish",
            )
        )
    points += _backfill_points()
    return points


def _backfill_points() -> list[KillPoint]:
    """The batched backfill (007): each batch commits its rows and its progress in one
    transaction, so a kill keeps whole batches only and ``up --resume`` continues after
    the last one that committed."""
    batch = kc.BACKFILL_BATCH
    before = (("up", "--to", "6"),)
    in_batch_3 = AtTrigger(
        _ledger_trigger("UPDATE", "accounts", f"NEW.id = {2 * batch + batch // 2}")
    )
    batch_3_commit = AtTrigger(
        _ledger_trigger(
            "UPDATE",
            "ledger",
            "NEW.version = 7 AND (NEW.progress->>'batches') = '3'",
            deferred=True,
        )
    )
    six = applied(1, 2, 3, 4, 5, 6)

    def point(
        name: str, pause: Pause, orphan: Orphan, batches: int, slow: bool = False
    ) -> KillPoint:
        return KillPoint(
            name,
            pause,
            orphan,
            After(
                (*six, partial(7, 0)), SchemaAt(6), verify=("partial",), backfilled=batches * batch
            ),
            (REFUSED, RESUME),
            before=before,
            slow=slow,
        )

    return [
        point("backfill-batch-3-rows", in_batch_3, "terminate", 2),
        point("backfill-batch-3-rows", in_batch_3, "finish", 2, slow=True),
        point("backfill-batch-3-commit", batch_3_commit, "terminate", 2),
        point("backfill-batch-3-commit", batch_3_commit, "finish", 3),
    ]


POINTS = _points()


# -- the run ---------------------------------------------------------------------------


def kill(point: KillPoint, directory: Path, database_url: str, workdir: Path) -> Result:
    """Start the command, hold it at the point, SIGKILL it, let the orphaned statement
    end as the point says, and take every test hook away again."""
    return kill_at(point.pause, point.orphan, point.command, directory, database_url, workdir)


def kill_at(
    pause: Pause,
    orphan: Orphan,
    command: tuple[str, ...],
    directory: Path,
    database_url: str,
    workdir: Path,
) -> Result:
    """:func:`kill`, for a pause, an orphan outcome and a command given one by one."""
    with Control(database_url) as ctl:
        pause.prepare(ctl)
        process = MigrateProcess(directory, database_url, *command, workdir=workdir, env=PATIENT)
        pid = pause.reach(ctl, process)
        killed = process.kill()
        if orphan == "terminate":
            ctl.terminate(pid)
        else:
            pause.let_finish(ctl)
        ctl.wait_until_gone(pid)
        ctl.release_all()
        ctl.query("SELECT pg_advisory_unlock_all()")
        ctl.remove_gate_functions()
        ctl.wait_until_no_migrating_backends()
    return killed


def check_after_kill(
    after: After, directory: Path, database_url: str, references: References
) -> None:
    state = ledger_state(database_url)
    assert state.rows == after.ledger
    in_place = {row[0] for row in after.ledger if row[1] == "applied" or row[3] == "down"}
    for version in range(1, kc.HEAD + 1):
        net = state.history.count((version, "up")) - state.history.count((version, "down"))
        assert net == (1 if version in in_place else 0), state.history
    schema = schema_of(database_url)
    validity = index_validity(database_url)
    if after.invalid is not None:
        assert validity[after.invalid.split(".", 1)[1]] is False
        schema = with_index_valid(schema, after.invalid)
    assert [name for name, valid in validity.items() if not valid] == (
        [after.invalid.split(".", 1)[1]] if after.invalid else []
    )
    assert_same_schema(schema, references.schema(after.schema), "schema after the kill")

    if after.backfilled is not None:
        assert backfilled_rows(database_url) == after.backfilled
        batches = after.backfilled // kc.BACKFILL_BATCH
        assert ledger_progress(database_url, kc.HEAD).get("batches") == batches

    verify = run_in_process(directory, database_url, "verify", "--format", "json")
    assert "Traceback" not in verify.output
    problems = json.loads(verify.stdout)["problems"]
    assert [p["kind"] for p in problems] == list(after.verify), verify.output
    assert verify.code == (1 if after.verify else 0), verify.output
    for problem, row in zip(problems, [r for r in after.ledger if r[1] != "applied"], strict=False):
        if problem["kind"] == "partial":
            version, _, done, _ = row
            if after.backfilled is not None:  # how far the backfill got, in rows
                assert (
                    f"its backfill stopped after {after.backfilled} row(s)" in (problem["message"])
                )
            else:
                assert f"with {done} statement(s) done" in problem["message"]
            assert "was interrupted" in problem["message"]


def recover(recovery: tuple[Recovery, ...], directory: Path, database_url: str) -> None:
    last: Result | None = None
    for step in recovery:
        if isinstance(step, DropNamedIndex):
            assert last is not None
            found = re.search(r"DROP INDEX CONCURRENTLY IF EXISTS [^;]+;", last.output)
            assert found, last.output
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(found.group(0))  # type: ignore[arg-type]
            continue
        last = run_in_process(directory, database_url, *step.args)
        assert last.code == step.code, (step, last.output)
        assert step.says in last.output, (step, last.output)
        assert "Traceback" not in last.output
        if step.code:
            assert len(last.stderr.strip().splitlines()) >= 1
            assert last.stderr.strip().splitlines()[-1].startswith("error: ")


def run_kill_point(
    point: KillPoint,
    tmp_path: Path,
    database_url: str,
    references: References,
    rows: int = kc.CI_ROWS,
) -> None:
    directory = kc.write_corpus(tmp_path / "migrations", rows)
    for args in point.before:
        result = run_in_process(directory, database_url, *args)
        assert result.code == 0, result.output
    killed = kill(point, directory, database_url, tmp_path / "runs")
    assert killed.code == -9, killed.output
    check_after_kill(point.after, directory, database_url, references)
    recover(point.recovery, directory, database_url)
    if point.command[0] == "down" or point.recovery[-1] != UP:
        final = run_in_process(directory, database_url, "up")
        assert final.code == 0, final.output
    check_at_head(directory, database_url, references)


@pytest.mark.parametrize("point", [p for p in POINTS if not p.slow], ids=lambda p: p.id)
def test_kill_point(
    point: KillPoint, tmp_path: Path, database_url: str, references: References
) -> None:
    run_kill_point(point, tmp_path, database_url, references)


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.id)
def test_kill_point_on_a_larger_table(
    point: KillPoint, tmp_path: Path, database_url: str, references: References
) -> None:
    """Every point (the CI ones too), with index builds over many more rows."""
    run_kill_point(point, tmp_path, database_url, references, kc.SLOW_ROWS)


def test_kill_during_the_resume_of_a_killed_run(
    tmp_path: Path, database_url: str, references: References
) -> None:
    """Two kills in a row: the run, then its `up --resume`."""
    directory = kc.write_corpus(tmp_path / "migrations")
    first = KillPoint("first", AtGate(kc.INDEXES_FIRST_STATEMENT), "terminate", NOTHING, ())
    second = KillPoint(
        "second", AtGate(kc.BETWEEN_INDEXES), "terminate", NOTHING, (), command=("up", "--resume")
    )

    assert kill(first, directory, database_url, tmp_path / "runs").code == -9
    assert ledger_state(database_url).rows == (*applied(1, 2), partial(3, 0))
    assert kill(second, directory, database_url, tmp_path / "runs").code == -9

    check_after_kill(
        After((*applied(1, 2), partial(3, 2)), SchemaAt(2, 3, 2), verify=("partial",)),
        directory,
        database_url,
        references,
    )
    recover((REFUSED, RESUME), directory, database_url)
    check_at_head(directory, database_url, references)
