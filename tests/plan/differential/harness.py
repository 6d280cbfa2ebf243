"""The differential proof of a plan (docs/planner.md, "How plans are proven").

One change (a schema with rows, and the SQL of the change) runs twice: the naive SQL
on one database, the plan ``migrate plan`` writes on another built from the same
schema and rows, migration by migration through the runner (``migrate up --phase P
--to V``). Clients write to both in lockstep: before the deploy point the plan names,
old-version clients (the old shape: inserts and updates of the tables as they were)
between every two migrations and between the batches of every backfill, sent to the
naive copy before its change; from the deploy point on, new-version clients (the
naive end shape, restricted to what the planned database has at that moment), sent to
the naive copy after its change. The naive SQL runs at the deploy point.

A case passes when:

- the planner refused it with a reason (exit 1), unless the case requires a plan; or
- both succeed: the schemas are equal (column positions aside), every row of every
  table is equal (a volatile value only as NULL or not), no client write failed on one
  side only, and the plan left no trigger, function, temporary column or INVALID index;
- or the naive SQL fails: the plan fails too, before it destroyed anything: the old
  shape's rows are all there as the naive copy has them, and no object of the naive
  copy's schema is removed or retyped.

After every single migration, while old clients run (before the deploy point), every
table, view and column of the old shape still exists and every view returns what its
old query returns on the rows as they are (after the deploy point: what the naive
copy's view returns); a column that did not exist before and has a default at the end
has one as soon as it exists (or a trigger fills it), and the triggers the change adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

import migrator.runner.backfill as backfill_module
from migrator.config import Settings
from migrator.errors import MigratorError
from migrator.plan.model import CannotPlan
from migrator.plan.planner import PlanResult, plan_file, write_plan
from migrator.plan.recipes.target import PlanOptions
from migrator.runner.flows import UpOptions, up
from migrator.schema.diff import diff_lines, diff_schemas
from migrator.schema.model import Schema
from migrator.source.model import Phase
from migrator.sql.names import quote_ident
from migrator.sql.split import split_statements
from tests.plan.differential.clock import (
    clock_columns,
    clock_functions,
    trigger_clock_columns,
)
from tests.plan.differential.shapes import (
    NOT_EXTENSION_MEMBER,
    VIEWS,
    Shape,
    Table,
    planned_writes,
    read_shape,
    sql_of,
    writes,
)
from tests.plan.scenario import leftovers, schema_of

CASES_DIR = Path(__file__).parent / "cases"
BASES_DIR = CASES_DIR / "bases"
OPEN_DIR = Path(__file__).parent / "open"

#: small batches, so a backfill of a few hundred rows has several windows
BATCH_SIZE = 64
#: how :func:`_projection` shows a timestamp the clock set during the run
SET_DURING_THE_RUN = "<set during the run>"


@dataclass(frozen=True)
class Case:
    id: str
    schema: str
    seed: str
    change: str
    #: what the naive copy runs instead of ``fill`` + ``change``
    naive: str | None = None
    #: what the application (or a person) runs at the deploy point, on both copies
    fill: str = ""
    #: ``planned``: a refusal fails the case; ``refused``: a plan fails it; ``any``
    expect: str = "any"
    #: schema objects only the plan has, on purpose: (kind, name)
    planned_extra: frozenset[tuple[str, str]] = frozenset()
    #: what the case proves, and where it comes from
    about: str = ""
    #: a real history's migration files, in place of ``schema`` as migration 001: the
    #: plan follows them, and both databases hold them already (the caller applied
    #: them through the runner and cloned the result: bench/plan_histories.py)
    history: tuple[Path, ...] = ()
    #: SQL an old-version client runs in every window before the deploy point, after
    #: its writes (a delete of a parent row, a write the new constraint refuses), on
    #: both copies: a statement one side takes and the other refuses is a client error
    old_client: str = ""
    #: tables only triggers write (an audit log): no client writes them (a client's
    #: update picks a row by what the table holds, which differs between the copies
    #: while a plan's data change and the naive one fire the triggers at other times)
    unwritten: frozenset[str] = frozenset()

    @property
    def naive_sql(self) -> str:
        return self.naive if self.naive is not None else self.fill + ";\n" + self.change


def load_case(path: Path) -> Case:
    data = tomllib.loads(path.read_text())
    base: dict[str, Any] = {}
    if "base" in data:
        base = tomllib.loads((BASES_DIR / f"{data['base']}.toml").read_text())
    expect = data.get("expect", "any")
    assert expect in {"planned", "refused", "any"}, f"{path}: expect = {expect!r}"
    return Case(
        id=path.stem,
        schema=data.get("schema", base.get("schema", "")) + data.get("schema_extra", ""),
        seed=data.get("seed", base.get("seed", "")) + data.get("seed_extra", ""),
        change=data["change"],
        naive=data.get("naive"),
        fill=data.get("fill", ""),
        expect=expect,
        planned_extra=frozenset(tuple(pair) for pair in data.get("planned_extra", [])),
        about=data.get("about", ""),
        old_client=data.get("old_client", ""),
        unwritten=frozenset(data.get("unwritten", [])),
    )


def corpus() -> list[Case]:
    """The cases of the default suite."""
    return [load_case(path) for path in sorted(CASES_DIR.glob("*.toml"))]


def open_findings() -> list[Case]:
    """The cases the planner does not pass yet (``pytest -m slow``)."""
    return [load_case(path) for path in sorted(OPEN_DIR.glob("*.toml"))]


@dataclass
class Outcome:
    """What happened to one case; ``problems`` empty means it passed."""

    case_id: str
    #: ``refused``, ``equal`` (both ran), ``both failed``, or what went wrong
    verdict: str = ""
    reason: str = ""
    migrations: int = 0
    #: of a refusal: 1 (cannot be made safe) or 2 (the file is unusable as a change)
    exit_code: int = 0
    problems: list[str] = field(default_factory=list)
    #: client writes that failed on one side only: (window, side, sqlstate)
    client_errors: list[str] = field(default_factory=list)
    writes: int = 0
    #: rows that kept what a client wrote after a batched data change passed them
    raced: int = 0

    def summary(self) -> str:
        return "\n".join([f"{self.case_id}: {self.verdict} {self.reason}".rstrip(), *self.problems])


def _state(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", "") or type(exc).__name__)


class Clients:
    """Old- and new-version clients writing to both copies in lockstep."""

    def __init__(self, naive: asyncpg.Connection, planned: asyncpg.Connection) -> None:
        self.naive = naive
        self.planned = planned
        self.serial = 0
        self.errors: list[str] = []
        self.sent = 0
        #: the rows a client wrote since the plan's first data change began, by the
        #: naive copy's table (its oid: the same after a rename): their keys as text
        self.written: dict[int, set[tuple[str | None, ...]]] = {}
        self.tracking = False
        #: the plan's data changes began and the naive copy's have not run yet: a row
        #: a write references (its values read from the naive copy) may be one the
        #: plan deleted already, as it may be one the naive statement deleted just
        #: before the write: such a write fails on both sides by timing alone
        self.references_race = False

    async def _naive_takes(self, sql: str) -> bool:
        """Whether the naive copy accepts ``sql`` (tried, then rolled back)."""
        tx = self.naive.transaction()
        await tx.start()
        try:
            await self.naive.execute(sql)
        except asyncpg.PostgresError:
            return False
        finally:
            await tx.rollback()
        return True

    async def _parent_deleted_earlier(self, exc: asyncpg.PostgresError, table: str) -> bool:
        """A foreign key the naive copy enforces refused a write that the planned copy
        took under the same foreign key: the parent row is there on the planned copy
        only, which is the naive SQL's DELETE having run at the deploy point and the
        plan's batched one not yet (the write races the delete, as it would race the
        naive statement). Neither copy keeps the write; a parent row still different
        at the end is a difference of the rows, and a plan without the foreign key is
        no such race (a client error)."""
        constraint = getattr(exc, "constraint_name", None)
        return (
            _state(exc) == "23503"
            and constraint is not None
            and bool(
                await self.planned.fetchval(
                    "SELECT EXISTS (SELECT FROM pg_constraint WHERE contype = 'f' "
                    "AND conname = $1 AND conrelid = to_regclass($2))",
                    constraint,
                    quote_ident(table),
                )
            )
        )

    async def statements(self, sql: str, where: str) -> None:
        """``sql`` (a case's own old-client statements) on the planned copy, then on
        the naive one, each in its own transaction; a statement one side refuses and
        the other takes is a client error (and is undone, so the copies stay equal)."""
        for statement in split_statements(sql).statements:
            self.sent += 1
            tx = self.planned.transaction()
            await tx.start()
            try:
                await self.planned.execute(statement.text)
            except asyncpg.PostgresError as exc:
                await tx.rollback()
                if await self._naive_takes(statement.text):
                    self.errors.append(f"{where}: planned {_state(exc)} ({exc}), naive ok")
                continue
            try:
                await self.naive.execute(statement.text)
            except asyncpg.PostgresError as exc:
                await tx.rollback()
                self.errors.append(f"{where}: naive {_state(exc)} ({exc}), planned ok")
                continue
            await tx.commit()

    async def window(self, shape: Shape, where: str) -> None:
        """Each write goes to the planned copy (its transaction left open), then to
        the naive copy; it is kept only if both took it, so the copies stay in step
        and a write one side refuses is a client error."""
        self.serial += 1
        for write in planned_writes(shape, self.serial):
            sql = await sql_of(self.naive, write)  # after the writes before it
            if sql is None:
                continue
            self.sent += 1
            tx = self.planned.transaction()
            await tx.start()
            try:
                await self.planned.execute(sql)
            except asyncpg.PostgresError as exc:
                await tx.rollback()
                raced = self.references_race and _state(exc) == "23503"
                if not raced and await self._naive_takes(sql):
                    self.errors.append(f"{where}: planned {_state(exc)} ({exc}), naive ok: {sql}")
                continue
            try:
                rows = await self.naive.fetch(sql + write.returning_sql())
            except asyncpg.PostgresError as exc:
                await tx.rollback()
                broken = trigger_lost_its_column(exc)
                if not broken and not await self._parent_deleted_earlier(exc, write.table.name):
                    self.errors.append(f"{where}: naive {_state(exc)} ({exc}), planned ok: {sql}")
                continue
            await tx.commit()
            for row in rows if self.tracking else ():
                self.written.setdefault(row["oid"], set()).add(tuple(row["keys"]))


def trigger_lost_its_column(exc: asyncpg.PostgresError) -> bool:
    """The naive copy refused a write because a PL/pgSQL trigger function of the table
    names a field of ``NEW`` or ``OLD`` the naive change dropped or renamed (42703,
    ``record "new" has no field``): the naive SQL broke every write of the table. A
    plan that drops or renames the column in its contract takes the writes until then
    and refuses them after it, as the naive copy does: no client error (a plan that
    never drops it ends with another schema, caught there)."""
    return (
        _state(exc) == "42703"
        and "PL/pgSQL function" in (getattr(exc, "context", None) or "")
        and re.match(r'record "(new|old)" has no field', str(exc)) is not None
    )


class _RolledBack(Exception):
    pass


@dataclass
class Probe:
    """A client timing every statement it sends while each migration of the plan runs
    (the load benchmark: bench/plan_corpus.py): it reads the rows a client writes and
    sends the update, in a transaction it rolls back (the lockstep copies stay equal;
    no insert, which would use up sequence values the copies must share),
    with the shape of the moment (old before the deploy point, new after)."""

    dsn: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def stall_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000

    async def _timed(self, conn: asyncpg.Connection, sql: str) -> None:
        began = time.monotonic()
        try:
            async with conn.transaction():
                await conn.execute(sql)
                raise _RolledBack
        except _RolledBack:
            pass
        except asyncpg.PostgresError as exc:
            self.errors[_state(exc)] += 1
        finally:
            self.latencies.append(time.monotonic() - began)

    async def during(
        self, work: Awaitable[Any], shape: Callable[[asyncpg.Connection], Awaitable[Shape]]
    ) -> Any:
        """Await ``work`` while the probe writes in a loop; return what ``work`` returns."""
        done = asyncio.Event()

        async def loop() -> None:
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute("SET statement_timeout = '60s'")
                serial = 0
                while not done.is_set():
                    serial += 1
                    began = time.monotonic()
                    try:
                        statements = await writes(conn, await shape(conn), serial)
                    except asyncpg.PostgresError as exc:
                        self.errors[_state(exc)] += 1
                        statements = []
                    self.latencies.append(time.monotonic() - began)
                    for sql in statements:  # an insert would use up sequence values
                        if sql.startswith("UPDATE"):
                            await self._timed(conn, sql)
                    await asyncio.sleep(0.005)
            finally:
                await conn.close()

        task = asyncio.create_task(loop())
        try:
            return await work
        finally:
            done.set()
            await task


@contextlib.contextmanager
def _between_batches(hook: Callable[[], Awaitable[None]]) -> Any:
    """Run ``hook`` between the batches of every backfill the runner walks (the
    runner's ``sleep`` between batches, which the step runner leaves at its default)."""
    original = backfill_module.run_backfill

    async def run_backfill(*args: Any, **kwargs: Any) -> Any:
        async def sleep(_seconds: float) -> None:
            await hook()

        return await original(*args, **kwargs, sleep=sleep)

    backfill_module.run_backfill = run_backfill
    try:
        yield
    finally:
        backfill_module.run_backfill = original


@contextlib.asynccontextmanager
async def _connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


def plan_case(case: Case, workdir: Path) -> tuple[Path, PlanResult]:
    """Write the base schema as migration 001 and the plan after it (pure)."""
    directory = workdir / "migrations"
    directory.mkdir(parents=True)
    for earlier in case.history:
        shutil.copyfile(earlier, directory / earlier.name)
    if not case.history:
        (directory / "001_base.up.sql").write_text(case.schema)
        (directory / "001_base.down.sql").write_text("SELECT 1;\n")
    change_file = workdir / "change.sql"
    change_file.write_text(case.change.rstrip().rstrip(";") + ";\n")
    result = plan_file(
        change_file,
        directory,
        lock_timeout_ms=2000,
        options=PlanOptions(batch_size=BATCH_SIZE, pause_ms=1),
    )
    write_plan(result)
    return directory, result


def _new_columns(table: Table, old: Shape) -> set[str]:
    """The columns of ``table`` the old shape does not have."""
    before = old.tables.get(table.name)
    return {c.name for c in table.columns if before is None or before.column(c.name) is None}


def _projection(
    table: Table, old: Shape, present: set[str], since: datetime | None = None
) -> list[str]:
    """How each column is compared: a volatile value (``now()``, ``gen_random_uuid()``,
    a trigger's value showing the clock: ``old`` marks it) only as NULL or not; a column
    the planned database lacks as a marker; with ``since`` (the server's clock when the
    run began), a timestamp between ``since`` and the moment it is read as a marker: a
    clock value set during the run (a trigger's ``NEW.updated = now()``) is set on both
    copies at different instants, so only "set during the run" is compared; a value
    from before the run, NULL or a later one is compared as it is (a lost write keeps
    the old value: caught)."""
    before = old.tables.get(table.name)
    cells = []
    for column in table.columns:
        name = quote_ident(column.name)
        was = before.column(column.name) if before is not None else None
        if column.name not in present:
            cells.append(f"'<missing {column.name}>'")
        elif column.volatile or (was is not None and (was.volatile or was.clock)):
            cells.append(f"({name} IS NULL)")
        elif since is not None and column.type.startswith("timestamp"):
            cells.append(_set_during_the_run(name, since))
        else:
            cells.append(f"{name}::text")
    return cells


def _set_during_the_run(column: str, since: datetime) -> str:
    """A timestamp column (quoted) as text, or as "set during the run" when the clock
    set it since ``since``."""
    return (
        f"CASE WHEN {column} BETWEEN '{since.isoformat()}'::timestamptz "
        f"AND clock_timestamp() THEN '{SET_DURING_THE_RUN}' ELSE {column}::text END"
    )


async def _columns_of(conn: asyncpg.Connection, relation: str) -> set[str]:
    """The columns of a table, view or materialized view of ``public`` (none: gone)."""
    rows = await conn.fetch(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
        "AND c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 "
        "AND NOT a.attisdropped",
        relation,
    )
    return {row[0] for row in rows}


async def _rows(conn: asyncpg.Connection, relation: str, cells: list[str]) -> list[tuple[Any, ...]]:
    """``cells`` of every row of ``relation`` (a table's own rows: see
    :attr:`Table.rows_sql`; or a view), in a fixed order."""
    select = ", ".join(cells) or "1"
    rows = await conn.fetch(f"SELECT {select} FROM {relation} ORDER BY ROW({select})::text")
    return [tuple(row) for row in rows]


def _same_row(naive: tuple[Any, ...], planned: tuple[Any, ...], tolerant: list[int]) -> bool:
    """Equal, except that where the naive copy has NULL in a column new in this change,
    the plan may hold a value: a row an old client inserted before the naive change
    gets NULL there, the same insert after the planned expand gets what the expand
    installed to fill it (a default, a trigger). A lost value is the other way round."""
    pairs = enumerate(zip(naive, planned, strict=True))
    return all(a == b or (i in tolerant and a is None) for i, (a, b) in pairs)


def _as_raced(
    planned: tuple[Any, ...],
    naive: tuple[Any, ...] | None,
    raced: list[tuple[Any, ...]],
    tolerant: list[int],
) -> bool:
    """Whether each value of the ``planned`` row that differs from the ``naive`` one
    is as the naive SQL without its data changes leaves it (``raced``, taken at the
    naive point: a later write, to both copies, makes a value equal again or changes
    another column); a column new in the change is tolerated as in :func:`_same_row`."""
    for candidate in raced:
        cells = zip(naive or candidate, planned, candidate, strict=True)
        if all(
            planned_cell in (naive_cell, raced_cell)
            or (i in tolerant and (naive_cell is None or raced_cell is None))
            for i, (naive_cell, planned_cell, raced_cell) in enumerate(cells)
        ):
            return True
    return False


async def compare_rows(
    naive: asyncpg.Connection,
    planned: asyncpg.Connection,
    shape: Shape,
    old: Shape,
    raced: dict[str, set[tuple[Any, ...]]] | None = None,
    written: dict[int, set[tuple[str | None, ...]]] | None = None,
    since: datetime | None = None,
    trigger_only: frozenset[str] = frozenset(),
) -> tuple[list[str], int]:
    """Every table of ``shape``: the planned copy holds the naive copy's rows (aligned
    by primary key where there is one), each column as :func:`_projection` shows it
    (``since``: the server's clock when the run began). A row that differs is accepted
    when a client wrote it (its key is in ``written``) and it is as in ``raced`` (the
    row as the naive SQL without its data changes leaves it: the client wrote it after
    the batched data change passed). A row of a table only triggers write
    (``trigger_only``: an audit log) that differs is accepted when it names such a
    row's key (the trigger logged the client's write, or the naive statement's change
    of the row, which the raced row missed). Returns the problems and how many rows
    were accepted so."""
    problems, accepted = [], 0
    raced_keys = {key[0] for keys in (written or {}).values() for key in keys if len(key) == 1} - {
        None
    }
    for table in shape.tables.values():
        present = await _columns_of(planned, table.name)
        if not present:
            problems.append(f"table {table.name}: missing in the planned database")
            continue
        everything = {c.name for c in table.columns}
        cells = _projection(table, old, everything, since)
        naive_rows = await _rows(naive, table.rows_sql, cells)
        planned_rows = await _rows(planned, table.rows_sql, _projection(table, old, present, since))
        new = _new_columns(table, old)
        tolerant = [i for i, c in enumerate(table.columns) if c.name in new]
        key = [i for i, c in enumerate(table.columns) if c.in_primary]
        if any(not cells[i].endswith("::text") for i in key):
            key = []  # a key not compared as it is aligns nothing (lemmy's uuid keys)
        oid = await naive.fetchval("SELECT to_regclass($1)::oid", quote_ident(table.name))
        clients_wrote = (written or {}).get(oid, set())
        # the rows clients wrote, as the naive SQL without its data changes leaves them
        acceptable: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for row in (raced or {}).get(table.name, set()):
            if (at := tuple(row[i] for i in key)) in clients_wrote:
                acceptable.setdefault(at, []).append(row)
        if key:
            by_key = {tuple(row[i] for i in key): row for row in planned_rows}
            lost, extra = [], []
            for row in naive_rows:
                at = tuple(row[i] for i in key)
                other = by_key.pop(at, None)
                if other is not None and _same_row(row, other, tolerant):
                    continue
                if other is not None and _as_raced(other, row, acceptable.get(at, []), tolerant):
                    accepted += 1
                    continue
                lost.append(row)
                if other is not None:
                    extra.append(other)
            for at, other in by_key.items():  # rows the naive copy does not have
                if _as_raced(other, None, acceptable.get(at, []), tolerant):
                    accepted += 1
                else:
                    extra.append(other)
        else:
            lost_count = Counter(naive_rows) - Counter(planned_rows)
            extra_count = Counter(planned_rows) - Counter(naive_rows)
            lost, extra = sorted(lost_count.elements()), sorted(extra_count.elements())
            if table.name in trigger_only:
                logged = [r for r in lost + extra if raced_keys & {str(cell) for cell in r}]
                accepted += len(logged)
                lost = [r for r in lost if r not in logged]
                extra = [r for r in extra if r not in logged]
        if lost or extra:
            problems.append(
                f"table {table.name}: {len(lost)} of {len(naive_rows)} rows of the naive copy "
                f"differ or are missing in the plan; {len(extra)} planned rows differ "
                f"(naive {lost[:2]}, planned {extra[:2]})"
            )
    return problems, accepted


_DATA_CHANGE = re.compile(r"^(UPDATE|DELETE)\b", re.IGNORECASE)
_FILL = re.compile(r"^UPDATE\s+(\S+)\s+SET\s+(\w+)\s*=\s*DEFAULT\s+WHERE\s+\2\s+IS\s+NULL;?$", re.I)
_DROPPED_COLUMN = re.compile(r"DROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?(\w+)", re.IGNORECASE)


#: a timestamp literal in a view's definition (``'now'::timestamp`` as PostgreSQL keeps it)
_TIME_LITERAL = re.compile(
    r"'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?:[+-]\d\d(?::\d\d)?)?'::timestamp"
)
_VIEW_KINDS = frozenset({"view", "materialized view"})
DAY = timedelta(days=1)


def _frozen_instants(schema: Schema, since: datetime, until: datetime) -> Schema:
    """``schema`` with each timestamp literal of a view's definition that lies in the
    run (``since`` to ``until``, a day either side for the server's time zone) as a
    marker: ``'now'::timestamp`` in a view is folded to the instant the view is created
    (lemmy 0037), which the plan does at another moment than the naive SQL."""

    def frozen(match: re.Match[str]) -> str:
        at = datetime.fromisoformat(match.group(1))
        low, high = (since - DAY).replace(tzinfo=None), (until + DAY).replace(tzinfo=None)
        return "'<created during the run>'::timestamp" if low <= at <= high else match.group(0)

    objects = []
    for obj in schema:
        if obj.kind in _VIEW_KINDS:
            attributes = tuple(
                (k, _TIME_LITERAL.sub(frozen, v) if k == "definition" else v)
                for k, v in obj.attributes
            )
            obj = replace(obj, attributes=attributes)
        objects.append(obj)
    return Schema.of(objects)


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql).strip()


def _racy_data_changes(case: Case) -> tuple[list[str], list[str]]:
    """The statements of the naive SQL, and its UPDATE and DELETE statements whose rows
    clients may race (see :func:`sql_without_data_changes`)."""
    statements = [_without_comments(s.text) for s in split_statements(case.naive_sql).statements]
    dropped = {m.group(1).lower() for m in _DROPPED_COLUMN.finditer(case.change)}
    # a fill of NULLs with the default (what the plan of a SET NOT NULL does, after the
    # deploy) races no client: kept, or the SET NOT NULL after it fails
    racy = [
        s
        for s in statements
        if _DATA_CHANGE.match(s)
        and not _FILL.match(s)
        and not dropped & set(re.findall(r"\w+", s.lower()))
    ]
    return statements, racy


def sql_without_data_changes(case: Case) -> str | None:
    """The change without the UPDATE and DELETE statements whose rows clients may race
    (a client that writes after a batch passed keeps what it wrote, as it does when it
    writes after the naive statement); ``None`` when there is no such data change.
    A data change that names a column the change drops stays: its values must reach
    the new columns, and a client's write after its backfill is lost unless something
    syncs it (its rows are not accepted as raced; the other data changes' are)."""
    statements, racy = _racy_data_changes(case)
    if not racy:
        return None
    kept = [s.rstrip(";") for s in statements if s not in racy]
    return ";\n".join(kept) + ";\n" if kept else "SELECT 1;\n"


_TARGET = re.compile(r"^(?:UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?(\w+)", re.IGNORECASE)
_READ = re.compile(r"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?(\w+)", re.IGNORECASE)


def _racy_targets(case: Case) -> frozenset[str]:
    """The tables the racy data changes change."""
    return frozenset(
        target.group(1).lower()
        for statement in _racy_data_changes(case)[1]
        if (target := _TARGET.match(statement))
    )


def tables_racy_changes_read(case: Case) -> frozenset[str]:
    """The tables other than their own that the racy data changes read (``UPDATE ...
    FROM b``, a subquery): a batch reads them when it runs, before the deploy point, the
    naive statement at the naive point. An old client's write to one in between is kept
    in the table it went to on both copies, and makes the copies differ by timing alone
    (the plan's batch ran earlier, as the naive file would if run then): old clients
    leave these tables alone from the start of the data changes to the deploy point.
    A data change that carries a column the change drops is not racy, and its tables
    stay written: a write it misses is lost (planner's refusal of a copy then drop)."""
    read: set[str] = set()
    for statement in _racy_data_changes(case)[1]:
        target = _TARGET.match(statement)
        own = target.group(1).lower() if target else None
        read |= {m.group(1).lower() for m in _READ.finditer(statement)} - {own}
    return frozenset(read)


TRIGGER_BODIES = """
SELECT c.relname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgenabled <> 'D'
"""
_WRITTEN = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?(?:public\.)?(\w+)", re.IGNORECASE
)


async def tables_triggers_of_racy_changes_write(
    conn: asyncpg.Connection, case: Case
) -> frozenset[str]:
    """The tables the triggers of the racy data changes' tables write (and the triggers
    of those, in turn), other than those tables, and the tables whose triggers insert
    rows into them: lemmy 0096's DELETE of people fires a trigger that decrements every
    row of site_aggregates, and a site inserted adds a row there. The naive statement
    and the plan's batches change such a table at their own moments, so a row a client
    wrote or added in between is changed on one copy only, by timing alone: clients
    leave these tables alone while the data changes race them (a change the plan fails
    to make to the rows no client wrote is still a difference)."""
    targets = _racy_targets(case)
    writes: dict[str, set[tuple[str, str]]] = {}
    for table, body in await conn.fetch(TRIGGER_BODIES):
        for match in _WRITTEN.finditer(re.sub(r"--[^\n]*", "", body or "")):
            verb = match.group(1).split()[0].upper()
            writes.setdefault(table, set()).add((verb, match.group(2).lower()))
    found: set[str] = set()
    todo = list(targets)
    while todo:  # what the triggers write, in turn
        for _verb, name in writes.get(todo.pop(), ()):
            if name not in found | targets | {"set"}:
                found.add(name)
                todo.append(name)
    while adding := {  # what inserts rows there through its triggers, in turn
        table
        for table, written in writes.items()
        if table not in found | targets and any(v == "INSERT" and n in found for v, n in written)
    }:
        found |= adding
    return frozenset(found)


async def raced_rows(
    conn: asyncpg.Connection, sql: str, old: Shape, since: datetime | None = None
) -> dict[str, set[tuple[Any, ...]]]:
    """The rows of every table after ``sql``, projected as :func:`compare_rows`
    compares them; read in a transaction that is rolled back."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(sql)
        shape = await read_shape(conn)
        rows = {}
        for table in shape.tables.values():
            everything = {c.name for c in table.columns}
            rows[table.name] = set(
                await _rows(conn, table.rows_sql, _projection(table, old, everything, since))
            )
        return rows
    except asyncpg.PostgresError:
        return {}
    finally:
        await tx.rollback()


async def _views(conn: asyncpg.Connection) -> list[str]:
    return [row[0] for row in await conn.fetch(VIEWS)]


VIEW_QUERIES = f"""
SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'v' AND {NOT_EXTENSION_MEMBER} ORDER BY 1
"""


async def view_queries(conn: asyncpg.Connection) -> dict[str, str]:
    """The query of every view, as the old clients know it."""
    return {row[0]: row[1].rstrip().rstrip(";") for row in await conn.fetch(VIEW_QUERIES)}


async def _views_keep_their_query(
    planned: asyncpg.Connection, queries: dict[str, str]
) -> list[str]:
    """While old clients run, each of their views returns what its old query returns
    on the planned copy's rows now (a view recreated on a column still being filled
    returns NULLs; a backfill changing the rows under it is no problem). Both read one
    snapshot in one transaction: a view computing with ``now()`` (lemmy's ranks)
    returns what its query returns at the same moment."""
    problems = []
    for view, query in queries.items():
        columns = await _columns_of(planned, view)
        if not columns:
            continue  # reported as gone
        cells = [f"{quote_ident(c)}::text" for c in sorted(columns)]
        async with planned.transaction(isolation="repeatable_read", readonly=True):
            try:
                async with planned.transaction():
                    expected = await _rows(planned, f"({query}) AS old_query", cells)
            except asyncpg.PostgresError:
                continue  # the old query no longer runs: the view's columns are checked apart
            if await _rows(planned, quote_ident(view), cells) != expected:
                problems.append(f"view {view} returns other rows than its old query")
    return problems


_SNAPSHOT = re.compile(
    r"\b(?:CREATE|REFRESH)\s+MATERIALIZED\s+VIEW\s+(?:CONCURRENTLY\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?(\w+)",
    re.IGNORECASE,
)


def snapshots(case: Case) -> frozenset[str]:
    """The materialized views the change creates or refreshes: each holds the rows of
    the moment it ran, which is another moment in the plan than at the naive point
    (clients write in between), so only whether it is populated is compared."""
    return frozenset(m.group(1).lower() for m in _SNAPSHOT.finditer(case.change))


POPULATED = """
SELECT c.relispopulated FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname = $1
"""


async def _query_returns_the_view(
    conn: asyncpg.Connection, view: str, query: str, cells: list[str]
) -> bool:
    """Whether ``query`` returns the rows of ``view`` on ``conn``, both read in one
    snapshot (one ``now()``); a query that does not run returns nothing."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        try:
            async with conn.transaction():
                expected = await _rows(conn, f"({query}) AS naive_query", cells)
        except asyncpg.PostgresError:
            return False
        return await _rows(conn, quote_ident(view), cells) == expected


MATERIALIZED_QUERY = """
SELECT pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'm' AND c.relname = $1
"""


async def _fresh(conn: asyncpg.Connection, view: str, cells: list[str]) -> bool:
    """Whether materialized view ``view`` holds what its query returns now."""
    query = await conn.fetchval(MATERIALIZED_QUERY, view)
    return query is not None and await _query_returns_the_view(
        conn, view, query.rstrip().rstrip(";"), cells
    )


VIEW_COLUMNS = """
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attname
"""


async def _view_cells(
    conn: asyncpg.Connection, view: str, clock: set[str], since: datetime | None
) -> list[str]:
    """How :func:`_views_agree` compares each column of ``view``: one that shows the
    clock as NULL or not; a timestamp set during the run (``since`` on) as set."""
    cells = []
    for name, type_name in await conn.fetch(VIEW_COLUMNS, quote_ident(view)):
        column = quote_ident(name)
        if name in clock:
            cells.append(f"({column} IS NULL)")
        elif since is not None and type_name.startswith("timestamp"):
            cells.append(_set_during_the_run(column, since))
        else:
            cells.append(f"{column}::text")
    return cells


async def _views_agree(
    naive: asyncpg.Connection,
    planned: asyncpg.Connection,
    *,
    raced: bool = False,
    snapshots: frozenset[str] = frozenset(),
    rows_agree: Callable[[str], Awaitable[bool]] | None = None,
    since: datetime | None = None,
) -> list[str]:
    """After the deploy point, each view returns what the naive copy's returns; or
    what the naive copy's view query returns on the planned copy's rows: once a client
    may have raced the plan's data changes (``raced``: a row may then rightly differ,
    see :func:`compare_rows`), or when the copies' rows of the tables the view reads
    agree (``rows_agree(view)``: equal as :func:`compare_rows` compares them; a table
    the view does not read, in the middle of the plan, may rightly differ) and the
    view shows a volatile value (a ``now()`` default), which differs from one copy to
    the other. A column that shows the clock (lemmy's ranks computed with ``now()``,
    :mod:`clock`) is compared as NULL or not: each copy computed it at its own
    instant; a timestamp the clock set during the run (``since`` on) as set, as
    :func:`compare_rows` compares the tables. A materialized view of ``snapshots``
    only has to be populated where the naive copy's is; another one, when the rows
    agree and it holds what its query returns on each copy."""
    problems = []
    naive_views = set(await _views(naive))
    naive_queries: dict[str, str] | None = None
    functions: frozenset[str] | None = None
    memo: dict[str, set[str]] = {}
    for view in await _views(planned):
        if view not in naive_views:
            continue
        columns = await _columns_of(planned, view)
        if columns != await _columns_of(naive, view):
            continue
        populated = await planned.fetchval(POPULATED, view)
        if populated != await naive.fetchval(POPULATED, view):
            problems.append(f"materialized view {view}: populated {populated} in the plan")
            continue
        if view in snapshots or not populated:
            continue
        cells = [f"{quote_ident(c)}::text" for c in sorted(columns)]
        if await _rows(naive, quote_ident(view), cells) == await _rows(
            planned, quote_ident(view), cells
        ):
            continue
        functions = functions or await clock_functions(planned)
        clock = await clock_columns(planned, view, functions, memo)
        cells = await _view_cells(planned, view, clock, since)
        if await _rows(naive, quote_ident(view), cells) == await _rows(
            planned, quote_ident(view), cells
        ):
            continue
        if raced or (rows_agree is not None and await rows_agree(view)):
            naive_queries = naive_queries or await view_queries(naive)
            if view in naive_queries and await _query_returns_the_view(
                planned, view, naive_queries[view], cells
            ):
                continue
            if (
                view not in naive_queries
                and await _fresh(planned, view, cells)
                and (await _fresh(naive, view, cells))
            ):
                continue  # a materialized view kept fresh (lemmy's, by triggers)
        problems.append(f"view {view} returns other rows than the naive copy's")
    return problems


TABLES_READ_BY = """
WITH RECURSIVE read (oid) AS (
    SELECT d.refobjid FROM pg_rewrite r JOIN pg_depend d ON d.objid = r.oid
    WHERE r.ev_class = to_regclass($1) AND d.refobjid <> r.ev_class
  UNION
    SELECT d.refobjid FROM read JOIN pg_rewrite r ON r.ev_class = read.oid
    JOIN pg_depend d ON d.objid = r.oid WHERE d.refobjid <> r.ev_class
)
SELECT c.relname FROM pg_class c JOIN read ON read.oid = c.oid WHERE c.relkind IN ('r', 'p')
"""


async def _tables_read_by(conn: asyncpg.Connection, view: str) -> set[str]:
    """The tables a view or materialized view reads, through the views it reads."""
    return {row[0] for row in await conn.fetch(TABLES_READ_BY, quote_ident(view))}


def _may_write(end: Shape, table: str, trigger: str, columns: list[str]) -> bool:
    """Whether the function of ``trigger`` (at the end) may write one of ``columns``:
    its source names one (a trigger that names none, filling another column or writing
    an audit table, does not complete them: the plan may add it after an index build,
    as the naive file adds it after the column). Unknown source: it may."""
    source = end.trigger_sources.get((table, trigger))
    if source is None:
        return True
    return any(re.search(rf"\b{re.escape(c)}\b", source, re.IGNORECASE) for c in columns)


def _completed_columns(now: Shape, old: Shape, end: Shape) -> list[str]:
    """A column new in this change comes with what completes it at the end: its
    default (unless a trigger fills it) and the triggers the change adds to its table
    that may write it (:func:`_may_write`)."""
    problems = []
    for table in now.tables.values():
        before, after = old.tables.get(table.name), end.tables.get(table.name)
        if after is None or before is None:
            continue
        new = [c for c in table.columns if before.column(c.name) is None and after.column(c.name)]
        if not new:
            continue
        triggers = now.triggers.get(table.name, frozenset())
        added = end.triggers.get(table.name, frozenset()) - old.triggers.get(
            table.name, frozenset()
        )
        names = [c.name for c in new]
        for name in sorted(added - triggers):
            if _may_write(end, table.name, name, names):
                problems.append(f"{table.name}: columns {names} exist without trigger {name}")
        for column in new:
            final = after.column(column.name)
            assert final is not None
            if final.default is not None and column.default is None and not triggers:
                problems.append(
                    f"{table.name}.{column.name} exists without its default "
                    f"({final.default}): inserts get NULL"
                )
    return problems


async def invariants(
    naive: asyncpg.Connection,
    planned: asyncpg.Connection,
    old: Shape,
    end: Shape | None,
    view_queries: dict[str, str],
    *,
    old_clients: bool,
    raced: bool = False,
    racing: bool = False,
    snapshots: frozenset[str] = frozenset(),
    since: datetime | None = None,
) -> list[str]:
    """What a client relies on, checked after every single migration (``racing``: the
    naive copy ran all its data changes, the plan has batched ones still to run: its
    views cannot agree with the naive copy's yet)."""
    problems = []
    if old_clients:
        for relation in [*old.tables, *old.views]:
            present = await _columns_of(planned, relation)
            if not present:
                problems.append(f"{relation} is gone while old clients use it")
                continue
            table = old.tables.get(relation)
            missing = sorted({c.name for c in table.columns} - present) if table else []
            if missing:
                problems.append(f"{relation}: columns {missing} gone while old clients use them")
    if end is not None:
        problems += _completed_columns(await read_shape(planned), old, end)
    if old_clients:
        problems += await _views_keep_their_query(planned, view_queries)
    elif not racing:

        async def rows_agree(view: str) -> bool:
            if end is None:
                return False
            read = await _tables_read_by(naive, view)
            shape = replace(end, tables={n: t for n, t in end.tables.items() if n in read})
            return not (await compare_rows(naive, planned, shape, old, since=since))[0]

        problems += await _views_agree(
            naive, planned, raced=raced, snapshots=snapshots, rows_agree=rows_agree, since=since
        )
    return problems


async def _naive_end_shape(conn: asyncpg.Connection, case: Case) -> Shape | None:
    """The naive SQL's end shape, read in a transaction that is rolled back (None when
    the SQL cannot run in one, or fails)."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(case.naive_sql)
        return await read_shape(conn)
    except asyncpg.PostgresError:
        return None
    finally:
        await tx.rollback()


EMPTY = """
DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END $$;
CREATE SCHEMA public;
"""


async def empty(dsn: str) -> None:
    """Drop every schema of the database and its objects; an empty ``public`` is left."""
    async with _connected(dsn) as conn:
        await conn.execute(EMPTY)


#: the kinds of relation a rename leaves a view of the old name for
TABLES = frozenset({"table", "partitioned table"})


async def destroyed(naive_dsn: str, planned_dsn: str) -> list[str]:
    """What of the naive copy's schema the planned one lost: objects removed, columns
    retyped (objects the plan added are fine: a failed plan stops after its expand; a
    table, partitioned or not, renamed with a view under its old name is not lost)."""
    naive_schema, planned_schema = await asyncio.gather(
        schema_of(naive_dsn), schema_of(planned_dsn)
    )
    views = {obj.name for obj in planned_schema if obj.kind == "view"}
    return [
        change.line()
        for change in diff_schemas(naive_schema, planned_schema)
        if (change.what == "removed" and not (change.kind in TABLES and change.name in views))
        or (change.what == "changed" and change.attribute == "type")
    ]


#: recipes whose backfill is the change itself (an UPDATE or DELETE of the file)
DATA_CHANGES = frozenset({"batched backfill", "batched delete"})


def naive_point(result: PlanResult) -> tuple[int, int]:
    """Before which migration of the plan the naive SQL runs, and the last migration
    of the data changes racing the clients from there (-1: none).

    It is the deploy point the plan names (old clients before it, new ones after).
    A deploy before the expand phase asks only for code that tolerates what the
    expand adds (an enum's new value, NULLs in a column): that code still writes what
    the old code writes, so when the plan names a later deploy too (code that no
    longer writes a dropped column), the later one is the deploy point.
    A plan that names none and changes data in batches: the start of the first such
    backfill, as if the naive statements ran then; clients that write while the
    batches run race them by nature (as they race the naive statements), so none
    write until the last one is done. Otherwise: the end of the plan."""
    versions = result.versions
    deploys = [i for i, v in enumerate(versions) if v.rendered.migration.deploy_before]
    if deploys:
        writers = [i for i in deploys if versions[i].rendered.migration.phase != "expand"]
        return (writers or deploys)[0], -1
    changing = data_change_migrations(result)
    if changing:
        return changing[0], changing[-1]
    return len(versions), -1


def data_change_migrations(result: PlanResult) -> list[int]:
    """The migrations of the plan (their index) that change rows in batches."""
    return [
        i
        for i, version in enumerate(result.versions)
        if {result.plan.changes[c].recipe for c in version.rendered.migration.changes}
        & DATA_CHANGES
    ]


async def run_case(
    case: Case,
    naive_dsn: str,
    planned_dsn: str,
    workdir: Path,
    probe: Probe | None = None,
    tamper: Callable[[Path], None] | None = None,
) -> Outcome:
    """Empty both databases, then prove ``case`` (see the module's docstring); with a
    ``probe``, time a client's statements while each migration runs. ``tamper`` edits
    the planned migrations directory before anything runs (the harness's own tests
    break a plan on purpose, to see it caught). A case with a ``history`` finds it
    applied on both databases: they are not emptied."""
    outcome = Outcome(case.id)
    if not case.history:
        await empty(naive_dsn)
        await empty(planned_dsn)
    try:
        directory, result = plan_case(case, workdir)
    except CannotPlan as exc:
        outcome.verdict, outcome.reason = "refused", exc.one_line()
        outcome.exit_code = int(exc.exit_code)
        if case.expect == "planned":
            outcome.problems.append(f"refused, but the case must be planned: {exc.one_line()}")
        elif not exc.message.strip():
            outcome.problems.append("refused without a reason")
        return outcome
    if case.expect == "refused":
        outcome.problems.append("planned, but the case must be refused")
    if tamper is not None:
        tamper(directory)
    versions = result.versions
    outcome.migrations = len(versions)
    deploy, racing_until = naive_point(result)
    # rows clients write from the first batched data change on may race it (none: the
    # data changes run unbatched in any migration)
    data_changes_from = next(iter(data_change_migrations(result)), 0)
    # from the deploy point (the naive SQL ran its data changes) to the plan's last
    # batched one, no view can agree with the naive copy's (lemmy 0096: people the
    # naive DELETE removed are still there for the plan's batches to delete)
    data_changes_until = max(data_change_migrations(result), default=-1)
    # a deploy of code that only tolerates what the expand adds, named before an expand
    # migration: the naive SQL runs as that migration starts, no write between them
    # (the code writes as old code does; the migration is the naive SQL's moment)
    tolerant = deploy < len(versions) and versions[deploy].rendered.migration.phase == "expand"
    racing = racing_until >= 0
    settings = Settings(
        migrations_dir=directory,
        database_url=planned_dsn,
        lock_timeout=2000,
        retry_delay=20,
        retry_max_delay=100,
    )
    if not case.history:
        await up(settings, UpOptions(to=1))
    async with _connected(naive_dsn) as naive, _connected(planned_dsn) as planned:
        if not case.history:
            await naive.execute(case.schema)
        await naive.execute(case.seed)
        await planned.execute(case.seed)
        # the rows are there: a clock value set from now on is the run's own
        since: datetime = await naive.fetchval("SELECT clock_timestamp()")
        old = (await read_shape(naive)).with_clock(await trigger_clock_columns(naive))
        queries = await view_queries(naive)
        end = await _naive_end_shape(naive, case)
        clients = Clients(naive, planned)
        state: dict[str, Any] = {
            "new": None,
            "naive_failed": None,
            "deployed": False,
            "racing": False,
            "raced": None,
            # the plan's batched data changes are still to run (or running)
            "pending": False,
        }
        racy_sql = sql_without_data_changes(case)
        racy_reads = tables_racy_changes_read(case)
        trigger_written = await tables_triggers_of_racy_changes_write(naive, case)

        async def deploy_now() -> None:
            state["deployed"] = True
            if racy_sql is not None:
                state["raced"] = await raced_rows(naive, racy_sql, old, since)
            if case.fill:
                await planned.execute(case.fill)
            try:
                async with naive.transaction():
                    await naive.execute(case.naive_sql)
            except asyncpg.PostgresError as exc:
                # a statement that cannot run in a transaction: the change runs
                # statement by statement, as the runner runs a no-transaction file
                if _state(exc) != "25001":
                    state["naive_failed"] = f"{_state(exc)} {exc}"
                    return
                try:
                    for statement in split_statements(case.change).statements:
                        await naive.execute(statement.text)
                except asyncpg.PostgresError as again:
                    state["naive_failed"] = f"{_state(again)} {again}"
                    return
            state["new"] = await read_shape(naive)

        async def client_shape(conn: asyncpg.Connection) -> Shape:
            """The shape a client writes now (read on ``conn``, to the planned copy)."""
            if not state["deployed"] or state["new"] is None:
                return old
            new_shape: Shape = state["new"]
            return new_shape.restricted_to(await read_shape(conn))

        async def window(where: str) -> None:
            if state["racing"]:
                return
            if not state["deployed"]:
                shape = old.unique_as(end).without(case.unwritten)
                if clients.tracking:
                    shape = shape.without(racy_reads | trigger_written)
                await clients.window(shape, f"old clients {where}")
                await clients.statements(case.old_client, f"old clients {where}")
            elif state["new"] is not None:
                shape = state["new"].restricted_to(await read_shape(planned))
                if state["pending"]:
                    shape = shape.without(trigger_written)
                await clients.window(shape.without(case.unwritten), f"new clients {where}")

        failed_at: int | None = None
        await window("before the plan")
        with _between_batches(lambda: window("between backfill batches")):
            for i, planned_version in enumerate(versions):
                migration = planned_version.rendered.migration
                label = f"{planned_version.version_text} {migration.name}"
                state["pending"] = i <= data_changes_until
                if i == deploy and racing:  # the naive statements run as the batches start
                    await window(f"before {label}")
                if i == deploy:
                    await deploy_now()
                    if state["naive_failed"] is None and (end is None):
                        end = state["new"]
                # no client writes from the start of the racing data changes to their end
                state["racing"] = racing and deploy <= i <= racing_until
                if i != deploy or not (racing or tolerant):
                    await window(f"before {label}")
                # a row a client writes from here on may race the plan's data changes
                clients.tracking = racy_sql is not None and i >= data_changes_from
                clients.references_race = clients.tracking and not state["deployed"]
                phase: Phase = migration.phase
                applying = up(
                    settings, UpOptions(to=int(planned_version.version_text), phase=phase)
                )
                try:
                    if probe is None:
                        await applying
                    else:
                        await probe.during(applying, client_shape)
                except MigratorError as exc:
                    failed_at = i
                    outcome.reason = f"plan failed at {label}: {exc.one_line()}"
                    break
                finally:
                    state["racing"] = False
                for problem in await invariants(
                    naive,
                    planned,
                    old,
                    end,
                    queries,
                    old_clients=not state["deployed"],
                    raced=bool(clients.written),
                    racing=deploy <= i < max(racing_until, data_changes_until),
                    snapshots=snapshots(case),
                    since=since,
                ):
                    outcome.problems.append(f"after {label}: {problem}")
        state["pending"] = False
        if not state["deployed"]:
            await deploy_now()
        if failed_at is None:
            await window("after the plan")
        outcome.client_errors = clients.errors
        outcome.writes = clients.sent

        if state["naive_failed"] is None and failed_at is None:
            outcome.verdict = "equal"
            assert state["new"] is not None
            outcome.problems += [f"client error: {e}" for e in clients.errors]
            problems, outcome.raced = await compare_rows(
                naive,
                planned,
                state["new"],
                old,
                state["raced"],
                clients.written,
                since,
                case.unwritten,
            )
            outcome.problems += problems
            naive_schema, planned_schema, naive_has, planned_has = await asyncio.gather(
                schema_of(naive_dsn),
                schema_of(planned_dsn, set(case.planned_extra)),
                leftovers(naive_dsn),  # the naive SQL's own triggers are no leftovers
                leftovers(planned_dsn),
            )
            until: datetime = await naive.fetchval("SELECT clock_timestamp()")
            outcome.problems += [
                f"schema: {line}"
                for line in diff_lines(
                    _frozen_instants(naive_schema, since, until),
                    _frozen_instants(planned_schema, since, until),
                )
            ]
            outcome.problems += [f"left behind: {x}" for x in planned_has if x not in naive_has]
            if outcome.problems:
                outcome.verdict = "differs"
        elif state["naive_failed"] is None:
            outcome.verdict = "half-applied"
            outcome.problems.append(f"the naive SQL succeeds, but the {outcome.reason}")
        elif failed_at is None:
            outcome.verdict = "ran where the naive SQL fails"
            outcome.problems.append(
                f"the naive SQL fails ({state['naive_failed']}), the plan ran to the end"
            )
        else:
            outcome.verdict = "both failed"
            outcome.reason += f"; naive: {state['naive_failed']}"
            outcome.problems += (await compare_rows(naive, planned, old, old, since=since))[0]
            outcome.problems += [
                f"destroyed: {line}" for line in await destroyed(naive_dsn, planned_dsn)
            ]
    return outcome
