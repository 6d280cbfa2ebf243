"""What a migration does to the relations that existed before it ran.

Before the migration, :func:`snapshot_relations` records every user relation's oid,
name and ``relfilenode``. While it runs, :class:`LockObserver` is the runner's
``after_statement`` hook: on the migrating connection, between statements and inside
the migration's transaction, it reads ``pg_locks`` for that backend and keeps the
relation locks on pre-existing relations. Afterwards, a relation whose
``relfilenode`` changed was rewritten.

A transactional migration holds its locks until it commits, so sampling after each
statement sees every lock it took. A ``-- migrate:no-transaction`` migration releases
each statement's locks when the statement ends: for those, :meth:`LockObserver.sampling`
also polls ``pg_locks`` from a second connection while the migration runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from migrator.db.quoting import quote_ident
from migrator.source.model import MigrationFile
from migrator.sql.split import Statement

#: pg_locks modes from weakest to strongest (for "the strongest lock per relation").
LOCK_MODES: tuple[str, ...] = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_MODE_RANK = {mode: rank for rank, mode in enumerate(LOCK_MODES)}
#: what each mode blocks, for reports
LOCK_EFFECT = {
    "AccessShareLock": "blocks only ACCESS EXCLUSIVE",
    "RowShareLock": "blocks EXCLUSIVE and ACCESS EXCLUSIVE",
    "RowExclusiveLock": "blocks SHARE and stronger",
    "ShareUpdateExclusiveLock": "blocks DDL and VACUUM, not reads or writes",
    "ShareLock": "blocks writes",
    "ShareRowExclusiveLock": "blocks writes",
    "ExclusiveLock": "blocks writes and SELECT ... FOR UPDATE",
    "AccessExclusiveLock": "blocks reads and writes",
}

_RELATIONS = """
SELECT c.oid, c.relfilenode, c.relkind::text AS relkind,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
       i.indrelid AS table_oid
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f', 'S', 'i', 'I')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
"""

_HELD_LOCKS = """
SELECT l.relation, l.mode FROM pg_catalog.pg_locks AS l
WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND l.relation = ANY($1::oid[])
"""

_LOCKS_OF_BACKEND = """
SELECT l.relation, l.mode FROM pg_catalog.pg_locks AS l
WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND l.relation = ANY($2::oid[])
"""
_SAMPLE_INTERVAL_S = 0.002

_INVALID_INDEXES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1
"""


def rank_of(lock: LockTaken | None) -> int:
    """The strength of ``lock`` (-1: none)."""
    return -1 if lock is None else _MODE_RANK.get(lock.mode, -1)


def _display(name: str) -> str:
    return name[len("public.") :] if name.startswith("public.") else name


@dataclass(frozen=True)
class Relation:
    oid: int
    name: str
    relkind: str
    relfilenode: int
    #: for an index: the oid of its table
    table: int | None = None

    @property
    def is_index(self) -> bool:
        return self.relkind in ("i", "I")


@dataclass(frozen=True)
class LockTaken:
    """A lock the migration held on a relation that existed before it ran."""

    relation: str
    mode: str
    #: where it was first seen: ``file:line``
    statement: str

    @property
    def blocks(self) -> str:
        return LOCK_EFFECT.get(self.mode, "")


async def snapshot_relations(connection: Any) -> dict[int, Relation]:
    """Every user relation by oid, with its current storage (``relfilenode``)."""
    return {
        int(row["oid"]): Relation(
            int(row["oid"]),
            _display(row["name"]),
            row["relkind"],
            int(row["relfilenode"]),
            int(row["table_oid"]) if row["table_oid"] is not None else None,
        )
        for row in await connection.fetch(_RELATIONS)
    }


async def invalid_index_names(connection: Any) -> set[str]:
    return {_display(row["name"]) for row in await connection.fetch(_INVALID_INDEXES)}


def rebuilt_indexes(
    before: Mapping[int, Relation], after: Mapping[int, Relation], truncated: Set[int] = frozenset()
) -> list[str]:
    """Indexes that got new storage while their table kept its own (``REINDEX``): reads
    that use such an index wait for the rebuild. An index rebuilt with its table's
    rewrite, or emptied with its table's TRUNCATE, is part of that."""
    moved = {
        oid
        for oid, relation in before.items()
        if oid in after
        and relation.relfilenode != 0
        and after[oid].relfilenode != relation.relfilenode
    }
    return sorted(
        before[oid].name
        for oid in moved
        if before[oid].is_index and before[oid].table not in moved | set(truncated)
    )


def rewritten(
    before: Mapping[int, Relation], after: Mapping[int, Relation], truncated: Set[int] = frozenset()
) -> list[str]:
    """Tables and materialized views that got new storage (a rewrite: ALTER TYPE, a
    volatile default, VACUUM FULL, ...), except the ``truncated`` ones (new, empty
    storage: no row is copied)."""
    return sorted(
        relation.name
        for oid, relation in before.items()
        if relation.relkind in ("r", "m")
        and oid in after
        and oid not in truncated
        and relation.relfilenode != 0
        and after[oid].relfilenode != relation.relfilenode
    )


def truncate_targets(migration_file: MigrationFile) -> list[str]:
    """The tables the file's ``TRUNCATE`` statements name, as quoted SQL names."""
    names = []
    for statement in migration_file.statements:
        node = statement.kind_and_fields() if statement.kind == "TruncateStmt" else None
        if node is None:
            continue
        for relation in node[1].get("relations") or []:
            range_var = relation.get("RangeVar", {})
            if "relname" not in range_var:
                continue
            schema = range_var.get("schemaname")
            table = quote_ident(range_var["relname"])
            names.append(f"{quote_ident(schema)}.{table}" if schema else table)
    return names


async def truncated_oids(connection: Any, migration_file: MigrationFile) -> set[int]:
    """Oids of the existing tables the file's ``TRUNCATE`` statements name."""
    names = truncate_targets(migration_file)
    if not names:
        return set()
    rows = await connection.fetch(
        "SELECT to_regclass(name)::oid AS oid FROM unnest($1::text[]) AS name", names
    )
    return {int(row["oid"]) for row in rows if row["oid"] is not None}


@dataclass
class LockObserver:
    """The runner's ``after_statement`` hook: records locks on pre-existing relations."""

    relations: Mapping[int, Relation]
    #: strongest lock per relation oid, with where it was first taken at that strength
    taken: dict[int, LockTaken] = field(default_factory=dict)
    samples: int = 0

    #: where the statement now running starts (for the background sampler)
    running: str = ""

    async def __call__(
        self, connection: Any, migration_file: MigrationFile, statement: Statement
    ) -> None:
        self.samples += 1
        rows = await connection.fetch(_HELD_LOCKS, list(self.relations))
        self.record(rows, f"{migration_file.path.name}:{statement.line}")
        following = [s for s in migration_file.statements if s.index == statement.index + 1]
        if following:
            self.running = f"{migration_file.path.name}:{following[0].line}"

    def record(self, rows: Iterable[Any], where: str) -> None:
        for row in rows:
            oid, mode = int(row["relation"]), str(row["mode"])
            known = self.taken.get(oid)
            if known is None or _MODE_RANK.get(mode, -1) > _MODE_RANK.get(known.mode, -1):
                self.taken[oid] = LockTaken(self.relations[oid].name, mode, where)

    @contextlib.asynccontextmanager
    async def sampling(
        self, observer_connection: Any, backend_pid: int, migration_file: MigrationFile
    ) -> AsyncIterator[None]:
        """While the block runs, poll ``pg_locks`` of ``backend_pid`` from a second
        connection every few milliseconds: the only way to see the locks of a
        no-transaction migration, which releases them when each statement ends (a lock
        held for less than the interval can still be missed)."""
        first = migration_file.statements[0] if migration_file.statements else None
        self.running = f"{migration_file.path.name}:{first.line}" if first else ""
        stop = asyncio.Event()

        async def poll() -> None:
            while not stop.is_set():
                rows = await observer_connection.fetch(
                    _LOCKS_OF_BACKEND, backend_pid, list(self.relations)
                )
                self.record(rows, self.running)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _SAMPLE_INTERVAL_S)

        task = asyncio.create_task(poll())
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await task

    def locks(self) -> list[LockTaken]:
        """Strongest lock per pre-existing relation, strongest first. A lock on an index
        is kept only when it is stronger than the one on its table (``REINDEX``: SHARE
        on the table, ACCESS EXCLUSIVE on the index); otherwise it says nothing more."""

        kept = [
            lock
            for oid, lock in self.taken.items()
            if not self.relations[oid].is_index
            or rank_of(lock) > rank_of(self.taken.get(self.relations[oid].table or 0))
        ]
        return sorted(kept, key=lambda lock: (-rank_of(lock), lock.relation))

    def implied_by_rewrites(self, tables: Iterable[str], where: str) -> None:
        """A rewrite holds ACCESS EXCLUSIVE on its table for as long as it copies: record
        it for a rewritten table whose lock the sampler missed."""
        for oid, relation in self.relations.items():
            strongest = _MODE_RANK["AccessExclusiveLock"]
            if relation.name in tables and rank_of(self.taken.get(oid)) < strongest:
                self.taken[oid] = LockTaken(relation.name, "AccessExclusiveLock", where)
