"""Running a backfill migration (``-- migrate:backfill``) in batches by key range.

The key is walked in order: each round asks for the next ``batch-size`` keys after the
last one done (a short read, no transaction), then runs the migration's ``UPDATE`` with
``$1`` = first and ``$2`` = last key of that batch in one short transaction under
``lock_timeout``, which also records the last key in the ledger's ``progress`` column.
Data and progress commit together, so an interrupted backfill resumes after the last
batch that committed; and because the ``UPDATE`` only touches rows that still need it,
a batch that runs twice changes nothing. A batch that hits the lock timeout is retried
with backoff (the runner's retry policy); between batches the runner sleeps ``pause``.

Progress is shown as a bar on a terminal (rows done, estimated total, rate, ETA) and as
plain lines otherwise (:class:`ProgressDisplay`).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

import asyncpg

from migrator.db.ledger import Ledger
from migrator.db.quoting import quote_ident, quote_qualified, sql_literal
from migrator.durations import format_ms
from migrator.errors import ConnectionFailed, MigrationFailed, UsageError
from migrator.runner.report import Reporter, TextReporter
from migrator.runner.retry import RetryPolicy
from migrator.runner.server_errors import is_connection_loss, is_lock_timeout, server_message
from migrator.source.backfill import BackfillSpec, backfill_of

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from migrator.runner.execute import AfterStatement, StepResult
    from migrator.runner.schedule import Step

_T = TypeVar("_T")


@dataclass(frozen=True)
class BackfillProgress:
    """Where a backfill stands; stored as JSON in the ledger (``progress``)."""

    #: the last key of the last committed batch, as text (``None``: not started)
    last_key: str | None = None
    #: keys walked so far (rows looked at)
    rows_done: int = 0
    #: rows the UPDATE changed so far
    rows_updated: int = 0
    batches: int = 0
    done: bool = False
    #: the largest key when the backfill started: rows inserted later get their value
    #: from the application, a default or the plan's sync trigger, so the walk ends here
    #: instead of chasing new rows forever
    until_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "backfill": True,
            "until_key": self.until_key,
            "last_key": self.last_key,
            "rows_done": self.rows_done,
            "rows_updated": self.rows_updated,
            "batches": self.batches,
            "done": self.done,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> BackfillProgress:
        if not data or not data.get("backfill"):
            return cls()
        return cls(
            last_key=data.get("last_key"),
            rows_done=int(data.get("rows_done", 0)),
            rows_updated=int(data.get("rows_updated", 0)),
            batches=int(data.get("batches", 0)),
            done=bool(data.get("done", False)),
            until_key=data.get("until_key"),
        )


class ProgressStore(Protocol):
    """Where progress is kept between batches (the ledger row of the migration)."""

    async def load(self, conn: asyncpg.Connection) -> BackfillProgress: ...

    async def save(self, conn: asyncpg.Connection, progress: BackfillProgress) -> None:
        """Called inside each batch's transaction."""
        ...


@dataclass
class MemoryProgress:
    """A :class:`ProgressStore` in memory (a backfill run outside the ledger)."""

    progress: BackfillProgress = field(default_factory=BackfillProgress)

    async def load(self, conn: asyncpg.Connection) -> BackfillProgress:
        return self.progress

    async def save(self, conn: asyncpg.Connection, progress: BackfillProgress) -> None:
        self.progress = progress


@dataclass(frozen=True)
class BackfillResult:
    progress: BackfillProgress
    duration_ms: int
    #: the most attempts any one batch needed (lock-timeout retries)
    attempts: int
    resumed: bool


class ProgressDisplay:
    """Shows a backfill's progress on ``stream``: on a terminal, click's progress bar,
    redrawn in place and fitted to the terminal's width (resizes included); otherwise
    a plain line at most every ``every_s`` seconds (and at the end)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        label: str = "backfill",
        tty: bool | None = None,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.label = label
        self._tty = tty
        self.every_s = every_s
        self.clock = clock
        self._began = clock()
        self._start_rows = 0
        self._last_line = float("-inf")
        self.verb = "updated"
        self._bar: ProgressBar[None] | None = None
        self._bar_text = ""

    @property
    def tty(self) -> bool:
        if self._tty is None:
            stream = self.stream or sys.stderr
            self._tty = bool(getattr(stream, "isatty", lambda: False)())
        return self._tty

    def start(self, progress: BackfillProgress, total: int | None, verb: str = "updated") -> None:
        """The first line; ``verb`` says what the batches do to rows (``deleted``)."""
        self.verb = verb
        self._began = self.clock()
        self._start_rows = progress.rows_done
        where = f" from key {progress.last_key}" if progress.last_key is not None else ""
        rows = f"~{total:,} rows" if total is not None else "rows not estimated"
        self._write(f"{self.label}: {rows}{where}\n")

    def line(self, progress: BackfillProgress, total: int | None) -> str:
        """The progress text (without bar): rows, share, rate, ETA (rows and rate only
        when the total is unknown)."""
        elapsed = max(self.clock() - self._began, 1e-9)
        rate = (progress.rows_done - self._start_rows) / elapsed
        if total is None:
            return (
                f"{progress.rows_done:,} rows, {rate:,.0f} rows/s, "
                f"{progress.rows_updated:,} {self.verb}"
            )
        total = max(total, progress.rows_done)
        share = progress.rows_done / total if total else 1.0
        remaining = max(total - progress.rows_done, 0)
        eta = f"{remaining / rate:,.0f}s" if rate > 0 else "?"
        return (
            f"{progress.rows_done:,}/{total:,} rows ({share:.0%}), {rate:,.0f} rows/s, "
            f"ETA {eta}, {progress.rows_updated:,} {self.verb}"
        )

    def update(self, progress: BackfillProgress, total: int | None) -> None:
        text = self.line(progress, total)
        if self.tty:
            self._draw(progress, total, text)
            return
        now = self.clock()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            self._write(f"{self.label}: {text}\n")

    def finish(self, progress: BackfillProgress, total: int | None) -> None:
        if self._bar is not None:
            self._bar.render_finish()  # ends the bar's line
            self._bar = None
        self._write(f"{self.label}: done, {self.line(progress, total)}\n")

    def _draw(self, progress: BackfillProgress, total: int | None, text: str) -> None:
        """Redraw click's bar: ``width=0`` makes it fill what the terminal has left
        after the label and the text, and the text is cut so that a bar of
        ``_MIN_BAR`` columns still fits (a line wider than the terminal would wrap
        and scroll at every redraw)."""
        import click

        if self._bar is None:
            self._bar = click.progressbar(
                length=max(total, progress.rows_done, 1) if total is not None else None,
                iterable=None if total is not None else iter(()),
                label=self.label,
                file=self.stream or sys.stderr,
                width=0,
                show_eta=False,
                show_percent=False,
                item_show_func=lambda _: self._bar_text,
            )
        columns = shutil.get_terminal_size().columns
        room = columns - len(self.label) - len("  [] ") - _MIN_BAR - 1
        self._bar_text = text if len(text) <= room else text[: max(room - 1, 0)] + "…"
        if self._bar.length is not None:
            self._bar.length = max(self._bar.length, progress.rows_done)
        self._bar.update(max(progress.rows_done - self._bar.pos, 0))
        self._bar.render_progress()

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(text)
        stream.flush()


#: the narrowest bar drawn: the text beside it is cut to leave it this many columns
_MIN_BAR = 10


class SilentDisplay(ProgressDisplay):
    def _write(self, text: str) -> None:
        return None


def _table_sql(spec: BackfillSpec) -> str:
    return quote_qualified(spec.schema, spec.table) if spec.schema else quote_ident(spec.table)


@dataclass(frozen=True)
class _Key:
    type: str
    nullable: bool
    #: the session's DateStyle when its output is not ISO, else ``None``
    datestyle: str | None = None

    async def read_exactly(self, conn: asyncpg.Connection, sql: str, *args: Any) -> Any:
        """``conn.fetchrow(sql, *args)`` with keys printed as ISO dates. A key is kept as
        text between batches and runs; the other date styles print a time zone's
        abbreviation (``IST``), which reads back as another zone (Israel, not India):
        the next batch started hours off and skipped rows. The session's DateStyle is
        put back before the migration's own statement runs."""
        if self.datestyle is None:
            return await conn.fetchrow(sql, *args)
        await conn.execute("SET LOCAL DateStyle = 'ISO'")  # keeps the field order
        row = await conn.fetchrow(sql, *args)
        await conn.execute(f"SET LOCAL DateStyle = {sql_literal(self.datestyle)}")
        return row


async def _key_of(conn: asyncpg.Connection, spec: BackfillSpec) -> _Key:
    row = await conn.fetchrow(
        "SELECT format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable, "
        "current_setting('DateStyle') AS datestyle "
        "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2 "
        "AND a.attnum > 0 AND NOT a.attisdropped",
        _table_sql(spec),
        spec.key,
    )
    if row is None:
        raise MigrationFailed(
            f"backfill: {_table_sql(spec)} has no column {quote_ident(spec.key)} (or the "
            "table does not exist)",
            hint="fix table= or key= in the -- migrate:backfill directive",
        )
    datestyle = str(row["datestyle"])
    return _Key(
        str(row["type"]), bool(row["nullable"]), None if datestyle.startswith("ISO") else datestyle
    )


async def _refuse_null_keys(conn: asyncpg.Connection, spec: BackfillSpec) -> None:
    """A row whose key is NULL is never in a key range: the walk would pass it by."""
    key = quote_ident(spec.key)
    nulls = await conn.fetchval(f"SELECT count(*) FROM {_table_sql(spec)} WHERE {key} IS NULL")
    if nulls:
        raise MigrationFailed(
            f"backfill: key {key} of {_table_sql(spec)} is NULL in {nulls:,} row"
            f"{'s' if nulls != 1 else ''}; the walk by key ranges would never reach "
            f"{'them' if nulls != 1 else 'it'}",
            hint="walk a unique NOT NULL column (usually the primary key): key= in the "
            "-- migrate:backfill directive",
        )


#: the table's kind and ``reltuples``, and the sum of the estimates its partitions have
#: (at every level; ``NULL`` when none has one)
_ESTIMATE_SQL = """
WITH RECURSIVE part AS (
    SELECT inhrelid AS oid FROM pg_inherits WHERE inhparent = to_regclass($1)
    UNION ALL
    SELECT i.inhrelid FROM pg_inherits i JOIN part ON i.inhparent = part.oid
)
SELECT c.relkind::text AS kind, c.reltuples::bigint AS own,
       (SELECT sum(p.reltuples)::bigint FROM part JOIN pg_class p ON p.oid = part.oid
         WHERE p.relkind <> 'p' AND p.reltuples >= 0) AS partitions
  FROM pg_class c WHERE c.oid = to_regclass($1)
"""


async def estimate_rows(conn: asyncpg.Connection, spec: BackfillSpec) -> int | None:
    """The planner's row estimate (``reltuples``), or a count when it has none. A
    partitioned table is never analysed by autovacuum: its estimate is then the sum of
    its partitions', and ``None`` (unknown) when none has one, as counting every
    partition would scan the whole table."""
    row = await conn.fetchrow(_ESTIMATE_SQL, _table_sql(spec))
    if row is not None and row["kind"] == "p":
        return int(row["own"]) if row["own"] > 0 else row["partitions"]
    if row is None or row["own"] < 0:
        return int(await conn.fetchval(f"SELECT count(*) FROM {_table_sql(spec)}"))
    return int(row["own"])


def _last_key_sql(spec: BackfillSpec) -> str:
    key = quote_ident(spec.key)
    return (
        f"SELECT k, k::text AS k_text FROM (SELECT {key} AS k FROM {_table_sql(spec)} "
        f"WHERE {key} IS NOT NULL ORDER BY {key} DESC LIMIT 1) AS last"
    )


def _key_text(value: Any, text: str) -> str:
    """The text a key is kept as between batches and runs, read back with ``CAST(text AS
    type)``. A float's text form rounds under ``extra_float_digits`` below 1 (a
    database may set it): ``0.9999999999999999`` became ``1`` and the next batch,
    ``key > 1``, skipped the row of key 1. Its exact binary value, decoded, gives the
    shortest text that reads back as exactly that float."""
    return repr(value) if isinstance(value, float) else text


def _next_batch_sql(spec: BackfillSpec, key_type: str, *, first: bool) -> str:
    """The next batch's first and last key. Parameters (text): the last key done (not for
    the ``first`` batch), then the last key to visit."""
    key = quote_ident(spec.key)
    until = f"{key} <= CAST(${1 if first else 2}::text AS {key_type})"
    where = (
        f"WHERE {until} " if first else f"WHERE {key} > CAST($1::text AS {key_type}) AND {until} "
    )
    return (
        f"WITH batch AS (SELECT {key} AS k FROM {_table_sql(spec)} {where}"
        f"ORDER BY {key} LIMIT {int(spec.batch_size)}) "
        "SELECT (SELECT k FROM batch ORDER BY k LIMIT 1) AS lo, "
        "(SELECT k FROM batch ORDER BY k DESC LIMIT 1) AS hi, "
        "(SELECT k::text FROM batch ORDER BY batch.k DESC LIMIT 1) AS hi_text, "
        "(SELECT count(*) FROM batch) AS n"
    )


def _rows_changed(status: str) -> int:
    parts = status.split()
    return int(parts[-1]) if parts and parts[-1].isdigit() else 0


#: errors after which a batch is simply tried again (its transaction rolled back, and
#: the UPDATE is idempotent): besides the lock timeout, losing a deadlock to an
#: application transaction or a serialization conflict
_RETRIED = {"40P01": "deadlock", "40001": "serialization failure"}


def _retry_reason(exc: asyncpg.PostgresError, lock_timeout_ms: int) -> str | None:
    if is_lock_timeout(exc):
        return f"lock timeout ({format_ms(lock_timeout_ms)})"
    return _RETRIED.get(getattr(exc, "sqlstate", None) or "")


@dataclass
class _Attempts:
    """Runs one unit of a backfill (the start, or one batch) as one transaction under
    the migration's timeouts, again after a retryable error, with the runner's backoff."""

    conn: asyncpg.Connection
    settings: str
    lock_timeout_ms: int
    retry: RetryPolicy
    on_retry: Callable[[int, int, str], None] | None
    sleep: Callable[[float], Awaitable[None]]
    most: int = 1

    async def run(self, work: Callable[[], Awaitable[_T]], where: Callable[[], str]) -> _T:
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with self.conn.transaction():
                    await self.conn.execute(self.settings)
                    result = await work()
            except asyncpg.PostgresError as exc:
                reason = _retry_reason(exc, self.lock_timeout_ms)
                if reason is None or attempt == self.retry.attempts:
                    raise
                delay = self.retry.delay_before(attempt)
                if self.on_retry is not None:
                    self.on_retry(attempt, delay, f"{reason} at {where()}")
                await self.sleep(delay / 1000)
                continue
            self.most = max(self.most, attempt)
            return result
        raise AssertionError("RetryPolicy.attempts is at least 1")


class _Position:
    """Where the walk is, for messages: before the first key, after the last one
    done, or (once read) the key range of the batch."""

    def __init__(self, key: str, last_key: str | None) -> None:
        self.text = f"{key} after {last_key}" if last_key is not None else "the start"

    def __call__(self) -> str:
        return self.text


def _settings_sql(lock_timeout_ms: int, statement_timeout_ms: int) -> str:
    return (
        f"SET LOCAL lock_timeout = '{format_ms(lock_timeout_ms) if lock_timeout_ms else 0}'; "
        f"SET LOCAL statement_timeout = "
        f"'{format_ms(statement_timeout_ms) if statement_timeout_ms else 0}'"
    )


async def run_backfill(
    conn: asyncpg.Connection,
    spec: BackfillSpec,
    *,
    store: ProgressStore,
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = 0,
    retry: RetryPolicy | None = None,
    display: ProgressDisplay | None = None,
    on_retry: Callable[[int, int, str], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> BackfillResult:
    """Walk ``spec.table`` by ``spec.key`` and run ``spec.statement`` per batch.

    Every read and write runs in a short transaction under the timeouts: the start
    (key type, NULL keys, row estimate, largest key) and each batch (its key range, the
    UPDATE, the progress). A lock timeout, deadlock or serialization failure rolls the
    transaction back and tries it again with the runner's backoff; ``on_retry(attempt,
    delay_ms, reason)`` is told of each retry.

    Resumes after the last key ``store`` holds; raises :class:`MigrationFailed` when a
    key is NULL, or a batch fails otherwise or on every attempt (progress so far kept).
    """
    display = display or SilentDisplay()
    began = time.monotonic()
    attempts = _Attempts(
        conn,
        _settings_sql(lock_timeout_ms, statement_timeout_ms),
        lock_timeout_ms,
        retry or RetryPolicy(),
        on_retry,
        sleep,
    )
    progress = await store.load(conn)
    resumed = progress.last_key is not None
    here = _Position(spec.key, progress.last_key)
    try:
        key, total, progress = await attempts.run(lambda: _begin(conn, spec, store, progress), here)
    except asyncpg.PostgresError as exc:
        raise _batch_failure(spec, here(), progress, exc) from None
    display.start(progress, total, spec.verb)
    first_sql = _next_batch_sql(spec, key.type, first=True)
    next_sql = _next_batch_sql(spec, key.type, first=False)

    async def batch() -> BackfillProgress:
        if progress.last_key is None:
            row = await key.read_exactly(conn, first_sql, progress.until_key)
        else:
            row = await key.read_exactly(conn, next_sql, progress.last_key, progress.until_key)
        if row is None or row["n"] == 0:
            advanced = replace(progress, done=True)
        else:
            here.text = f"{spec.key} {row['lo']}..{row['hi']}"
            status = await conn.execute(spec.statement, row["lo"], row["hi"])
            advanced = replace(
                progress,
                last_key=_key_text(row["hi"], row["hi_text"]),
                rows_done=progress.rows_done + int(row["n"]),
                rows_updated=progress.rows_updated + _rows_changed(status),
                batches=progress.batches + 1,
            )
        await store.save(conn, advanced)
        return advanced

    while not progress.done:
        here = _Position(spec.key, progress.last_key)
        try:
            progress = await attempts.run(batch, here)
        except asyncpg.PostgresError as exc:
            raise _batch_failure(spec, here(), progress, exc) from None
        if progress.done:
            break
        display.update(progress, total)
        if spec.pause_ms:
            await sleep(spec.pause_ms / 1000)
    display.finish(progress, total)
    return BackfillResult(
        progress, round((time.monotonic() - began) * 1000), attempts.most, resumed
    )


async def _begin(
    conn: asyncpg.Connection, spec: BackfillSpec, store: ProgressStore, progress: BackfillProgress
) -> tuple[_Key, int | None, BackfillProgress]:
    """The start of a run, in one transaction: the key (refused if it holds NULLs), the
    row estimate, and for a new run the largest key, where the walk will end."""
    key = await _key_of(conn, spec)
    if key.nullable:
        await _refuse_null_keys(conn, spec)
    total = await estimate_rows(conn, spec)
    if progress.until_key is None and not progress.done:
        last = await key.read_exactly(conn, _last_key_sql(spec))
        until = None if last is None else _key_text(last["k"], last["k_text"])
        progress = replace(progress, until_key=until)
        if progress.until_key is None:  # an empty table
            progress = replace(progress, done=True)
            await store.save(conn, progress)
    return key, total, progress


def _batch_failure(
    spec: BackfillSpec, where: str, progress: BackfillProgress, exc: asyncpg.PostgresError
) -> MigrationFailed:
    return MigrationFailed(
        f"backfill of {_table_sql(spec)} failed at {where} after "
        f"{progress.rows_done:,} rows: {server_message(exc)}",
        hint="fix the cause and run `migrate up --resume`: it continues after the last "
        "batch that committed",
    )


@dataclass(frozen=True)
class LedgerProgress:
    """:class:`ProgressStore` on the migration's ledger row (``progress`` column)."""

    ledger: Ledger
    version: int

    async def load(self, conn: asyncpg.Connection) -> BackfillProgress:
        entry = (await self.ledger.entries(conn)).get(self.version)
        return BackfillProgress.from_json(entry.progress if entry is not None else None)

    async def save(self, conn: asyncpg.Connection, progress: BackfillProgress) -> None:
        await self.ledger.set_progress(conn, self.version, progress.to_json())


def spec_of(step: Step) -> BackfillSpec:
    """The checked backfill of a step's file; :class:`MigrationFailed` if it is broken."""
    directives = step.file.directives
    assert directives.backfill is not None
    try:
        return backfill_of(directives.backfill, [s.text for s in step.file.statements])
    except UsageError as exc:
        raise MigrationFailed(
            f"{step.file.path}:{directives.backfill_line}: {exc.message}", hint=exc.hint
        ) from None


async def run_backfill_step(
    conn: asyncpg.Connection,
    step: Step,
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter,
    after_statement: AfterStatement | None = None,
) -> StepResult:
    """Apply a backfill migration as the runner applies any step: its ledger row says
    ``partial`` while it runs (with the progress), ``applied`` at the end; a failure is
    recorded and leaves the progress for ``migrate up --resume``."""
    from migrator.runner.execute import StepResult

    spec = spec_of(step)
    display: ProgressDisplay = SilentDisplay()
    if isinstance(reporter, TextReporter):
        display = ProgressDisplay(
            reporter.stream,
            label=reporter.progress_prefix + step.label,
            tty=None if reporter.progress_bars else False,
        )

    def on_retry(attempt: int, delay_ms: int, reason: str) -> None:
        reporter.retrying(
            step, attempt=attempt, attempts=retry.attempts, delay_ms=delay_ms, reason=reason
        )

    try:
        await ledger.record_started(conn, step.migration, step.file, statements_done=0)
        result = await run_backfill(
            conn,
            spec,
            store=LedgerProgress(ledger, step.version),
            lock_timeout_ms=step.lock_timeout_ms,
            statement_timeout_ms=step.statement_timeout_ms,
            retry=retry,
            display=display,
            on_retry=on_retry,
        )
        await ledger.record_applied(conn, step.migration, duration_ms=result.duration_ms)
    except MigrationFailed as failure:
        if not conn.is_closed():
            await ledger.record_failure(
                conn, step.migration, step.file, error=failure.message, statements_done=0
            )
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        if conn.is_closed() or is_connection_loss(exc):
            raise ConnectionFailed(
                f"connection lost during the backfill {step.label}: {server_message(exc)}",
                hint="run `migrate up --resume`: it continues after the last batch that committed",
            ) from None
        raise MigrationFailed(
            f"backfill {step.label} failed: {server_message(exc)}",
            hint="fix the cause and run `migrate up --resume`",
        ) from None
    return StepResult(step, result.duration_ms, result.attempts)
