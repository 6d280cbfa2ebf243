"""Reading a schema again after a migration changed part of it.

A rehearsal reads the schema three times per migration. Most of a read is the
objects that belong to a relation (columns, constraints, indexes, triggers, rules,
policies, statistics, and the relations and sequences themselves): they make up
most of the rows and of the server's deparsing, and a migration touches few
relations. :class:`SchemaReader` keeps the last read and, at the next one, re-reads
only the relations whose catalog rows may have changed; everything else (schemas,
types, functions, grants, comments, roles, ...) is read whole every time.

Which relations may have changed is decided from the catalog, not from the
migration's text, and errs towards reading more:

* a relation whose catalog rows (its ``pg_class`` row and its indexes', its
  ``pg_attribute``, ``pg_attrdef``, ``pg_constraint``, ``pg_index``, ``pg_trigger``,
  ``pg_rewrite``, ``pg_policy``, ``pg_statistic_ext``, ``pg_inherits``,
  ``pg_sequence``, ``pg_partitioned_table`` rows, and the ``pg_depend`` rows that
  make it an extension member, an owned or an identity sequence) include one written
  since the last read (its ``xmin`` is newer than that read's snapshot), or whose
  number of such rows or index flags differ (a row deleted);
* a relation that has an object depending (``pg_depend``) on a relation, column,
  type, enum label or function that existed before and was changed since (a rename
  changes the text of what refers to it), or on a function that a new overload now
  shares a name with;
* every relation, that is a full read, when the change cannot be placed: any
  schema created, changed or dropped, a role added, changed or dropped, a change to
  a built-in object, to a system or temporary schema's objects, to an operator,
  operator class or family, collation, access method, language, text search object,
  conversion, cast, transform or foreign-data object, or to the set of excluded
  (ledger) relations; and the first read.

In-place catalog updates do not get a new ``xmin``: the ones PostgreSQL makes
(statistics, frozen ids, the index flags of ``CREATE INDEX CONCURRENTLY``) touch
nothing the reader shows except the index flags, which the inventory counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrator.schema.introspect import (
    Exclusions,
    Owned,
    consistent_read,
    excluded_relations,
    finish_schema,
    read_objects,
)
from migrator.schema.model import Schema, SchemaObject

#: The snapshot (its next transaction id, 32 bits as ``xid``), the role signature and
#: the highest oids, at the time of a read.
_STATUS = """
SELECT (pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot())::numeric
        % 4294967296)::text AS mark,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.oid), ''))
          FROM pg_catalog.pg_roles AS r)
       || (SELECT md5(coalesce(string_agg(m::text, ',' ORDER BY m::text), ''))
             FROM pg_catalog.pg_auth_members AS m) AS roles,
       (SELECT max(oid) FROM pg_catalog.pg_class)::bigint AS max_class,
       (SELECT max(oid) FROM pg_catalog.pg_type)::bigint AS max_type,
       (SELECT max(oid) FROM pg_catalog.pg_proc)::bigint AS max_proc
"""

#: Catalogs whose rows belong to one relation, and the column that names it.
_RELATION_ROWS = (
    ("pg_attrdef", "adrelid"),
    ("pg_constraint", "conrelid"),  # 0 for a domain's: left out below
    ("pg_trigger", "tgrelid"),
    ("pg_rewrite", "ev_class"),
    ("pg_policy", "polrelid"),
    ("pg_statistic_ext", "stxrelid"),
    ("pg_inherits", "inhrelid"),
    ("pg_sequence", "seqrelid"),
    ("pg_partitioned_table", "partrelid"),
)
_OWNED_ROWS = "".join(
    f"""    UNION ALL
    SELECT x.{column}, age(x.xmin) <= mark.age, 0 FROM pg_catalog.{catalog} AS x, mark
"""
    for catalog, column in _RELATION_ROWS
)

#: Per relation (an index's rows count as its table's): how many catalog rows it
#: has, the sum of its indexes' state flags, and whether one of its rows was written
#: after the snapshot ``$1`` (an ``xid``; NULL: none is).
_INVENTORY = f"""
WITH mark AS (SELECT age($1::text::xid) AS age),
idx AS (SELECT indexrelid, indrelid FROM pg_catalog.pg_index),
rows (relation, written, flags) AS (
    SELECT coalesce(idx.indrelid, c.oid), age(c.xmin) <= mark.age, 0
    FROM pg_catalog.pg_class AS c LEFT JOIN idx ON idx.indexrelid = c.oid, mark
    WHERE c.oid >= 16384
    UNION ALL
    SELECT i.indrelid, age(i.xmin) <= mark.age,
           i.indisvalid::int + 2 * i.indisready::int + 4 * i.indislive::int
    FROM pg_catalog.pg_index AS i, mark WHERE i.indrelid >= 16384
    UNION ALL
    SELECT coalesce(idx.indrelid, a.attrelid), age(a.xmin) <= mark.age, 0
    FROM pg_catalog.pg_attribute AS a LEFT JOIN idx ON idx.indexrelid = a.attrelid, mark
    WHERE a.attrelid >= 16384
{_OWNED_ROWS}    UNION ALL
    SELECT coalesce(idx.indrelid, d.objid), age(d.xmin) <= mark.age, 0
    FROM pg_catalog.pg_depend AS d LEFT JOIN idx ON idx.indexrelid = d.objid, mark
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid >= 16384
      AND d.deptype IN ('e', 'a', 'i')
)
SELECT relation, count(*) AS catalog_rows, sum(flags)::bigint AS flags,
       coalesce(bool_or(written), false) AS written
FROM rows WHERE relation >= 16384 GROUP BY relation
"""


#: Catalogs whose changes the reader cannot place: their objects appear in the text
#: of others (an operator in an index, a collation in a column, ...), or contain all
#: (and ``pg_foreign_table``, keyed by ``ftrelid``).
_UNPLACED_CATALOGS = (
    "pg_namespace",
    "pg_operator",
    "pg_opclass",
    "pg_opfamily",
    "pg_collation",
    "pg_am",
    "pg_language",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_conversion",
    "pg_cast",
    "pg_transform",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
)
_OTHER_WRITTEN = "".join(
    f"""    UNION ALL
    SELECT '{catalog}', x.{key}, 0, NULL FROM pg_catalog.{catalog} AS x, mark
    WHERE age(x.xmin) <= mark.age
"""
    for catalog, key in (
        *((catalog, "oid") for catalog in _UNPLACED_CATALOGS),
        ("pg_foreign_table", "ftrelid"),
    )
)

#: A dependent object (``pg_depend.objid``) of these catalogs belongs to a relation.
_DEPENDENT_OWNERS = "".join(
    f"""        WHEN 'pg_catalog.{catalog}'::regclass THEN
            (SELECT x.{column} FROM pg_catalog.{catalog} AS x WHERE x.oid = d.objid)
"""
    for catalog, column in _RELATION_ROWS
    if catalog
    in ("pg_attrdef", "pg_constraint", "pg_trigger", "pg_rewrite", "pg_policy", "pg_statistic_ext")
)

#: Since the snapshot ``$1``: whether a change cannot be placed (a full read), and the
#: relations that refer to a changed relation, column, type, enum label or function
#: that existed at the last read (oids up to ``$2``, ``$3``, ``$4``). Each catalog is
#: scanned once, for the rows written since (few).
_CHANGES = f"""
WITH mark AS (SELECT age($1::text::xid) AS age),
written (catalog, objid, namespace, name) AS MATERIALIZED (
    SELECT 'pg_class', c.oid, c.relnamespace, NULL::name FROM pg_catalog.pg_class AS c, mark
    WHERE age(c.xmin) <= mark.age
    UNION ALL
    SELECT DISTINCT 'pg_attribute', a.attrelid, 0::oid, NULL::name
    FROM pg_catalog.pg_attribute AS a, mark WHERE age(a.xmin) <= mark.age
    UNION ALL
    SELECT 'pg_type', t.oid, t.typnamespace, NULL FROM pg_catalog.pg_type AS t, mark
    WHERE age(t.xmin) <= mark.age
    UNION ALL
    SELECT DISTINCT 'pg_enum', e.enumtypid, 0::oid, NULL::name
    FROM pg_catalog.pg_enum AS e, mark WHERE age(e.xmin) <= mark.age
    UNION ALL
    SELECT 'pg_proc', p.oid, p.pronamespace, p.proname FROM pg_catalog.pg_proc AS p, mark
    WHERE age(p.xmin) <= mark.age
{_OTHER_WRITTEN}),
changed (classid, objid) AS (
    SELECT 'pg_catalog.pg_class'::regclass, w.objid FROM written AS w
    WHERE w.catalog IN ('pg_class', 'pg_attribute') AND w.objid <= $2
    UNION
    SELECT 'pg_catalog.pg_type'::regclass, w.objid FROM written AS w
    WHERE (w.catalog = 'pg_type' AND w.objid <= $3) OR w.catalog = 'pg_enum'
    UNION
    SELECT 'pg_catalog.pg_proc'::regclass, w.objid FROM written AS w
    WHERE w.catalog = 'pg_proc' AND w.objid <= $4
    UNION
    SELECT 'pg_catalog.pg_proc'::regclass, old.oid
    FROM written AS w JOIN pg_catalog.pg_proc AS old ON old.proname = w.name
    WHERE w.catalog = 'pg_proc' AND w.objid > $4 AND old.oid <= $4
),
referring (relation) AS (
    SELECT CASE d.classid
        WHEN 'pg_catalog.pg_class'::regclass THEN coalesce(
            (SELECT i.indrelid FROM pg_catalog.pg_index AS i WHERE i.indexrelid = d.objid),
            d.objid)
{_DEPENDENT_OWNERS}        END
    FROM pg_catalog.pg_depend AS d
    JOIN changed ON changed.classid = d.refclassid AND changed.objid = d.refobjid
)
SELECT
    EXISTS (SELECT 1 FROM written AS w
            LEFT JOIN pg_catalog.pg_namespace AS n ON n.oid = w.namespace
            WHERE w.catalog NOT IN ('pg_class', 'pg_attribute', 'pg_type', 'pg_enum', 'pg_proc')
               OR (w.catalog IN ('pg_class', 'pg_type', 'pg_proc') AND w.objid < 16384)
               OR n.nspname IN ('pg_catalog', 'information_schema')
               OR n.nspname LIKE 'pg\\_temp\\_%') AS unplaced,
    ARRAY(SELECT DISTINCT relation FROM referring WHERE relation >= 16384) AS referring
"""


@dataclass(frozen=True)
class _Inventory:
    """What the catalog says about each relation at one read."""

    #: relation oid -> (catalog rows, index flags)
    relations: dict[int, tuple[int, int]]
    #: relations with a row written since the previous read
    written: frozenset[int]


@dataclass
class _LastRead:
    mark: str
    roles: str
    max_oids: tuple[int, int, int]
    excluded: tuple[int, ...]
    inventory: dict[int, tuple[int, int]]
    #: the objects of each relation; 0: the objects read whole every time
    owned: dict[int, list[SchemaObject]]


@dataclass
class SchemaReader:
    """Reads the schema of one database again and again, each time re-reading only
    the relations that may have changed since the last read (see the module's
    docstring). Every read returns what :func:`~migrator.schema.introspect.read_schema`
    would."""

    exclusions: Exclusions = field(default_factory=Exclusions)
    include_roles: bool = False
    #: how many reads were full, and how many re-read part of the relations
    full_reads: int = 0
    partial_reads: int = 0
    _last: _LastRead | None = None

    def forget(self) -> None:
        """The next read is a full one (something the reader cannot see changed)."""
        self._last = None

    async def read(self, connection: Any) -> Schema:
        async with consistent_read(connection):
            excluded = await excluded_relations(connection, self.exclusions)
            status = await connection.fetchrow(_STATUS)
            last = self._last
            inventory = await _inventory(connection, last.mark if last else None)
            max_oids = (
                int(status["max_class"]),
                int(status["max_type"]),
                int(status["max_proc"]),
            )
            scope = await self._scope(connection, last, status, excluded, inventory)
            objects = await read_objects(
                connection,
                excluded,
                self.include_roles,
                relations=None if scope is None else sorted(scope),
            )
            owned = _by_relation(objects)
            if scope is None or last is None:
                self.full_reads += 1
            else:
                self.partial_reads += 1
                for relation, kept in last.owned.items():
                    if relation != 0 and relation not in scope:
                        owned[relation] = kept
            self._last = _LastRead(
                mark=str(status["mark"]),
                roles=str(status["roles"]),
                max_oids=max_oids,
                excluded=tuple(sorted(excluded)),
                inventory=inventory.relations,
                owned=owned,
            )
            return await finish_schema(
                connection, (obj for kept in owned.values() for obj in kept), self.exclusions
            )

    async def _scope(
        self,
        connection: Any,
        last: _LastRead | None,
        status: Any,
        excluded: list[int],
        inventory: _Inventory,
    ) -> set[int] | None:
        """The relations to read again, or ``None`` for a full read."""
        if (
            last is None
            or int(last.mark) < 3  # not a normal transaction id
            or last.roles != status["roles"]
            or last.excluded != tuple(sorted(excluded))
        ):
            return None
        changes = await connection.fetchrow(_CHANGES, last.mark, *last.max_oids)
        if changes["unplaced"]:
            return None
        now = inventory.relations
        scope = set(inventory.written) | {int(oid) for oid in changes["referring"]}
        scope |= {oid for oid, counted in now.items() if last.inventory.get(oid) != counted}
        scope |= {oid for oid in last.inventory if oid not in now}
        return scope


async def _inventory(connection: Any, mark: str | None) -> _Inventory:
    rows = await connection.fetch(_INVENTORY, mark)
    return _Inventory(
        {int(row["relation"]): (int(row["catalog_rows"]), int(row["flags"])) for row in rows},
        frozenset(int(row["relation"]) for row in rows if row["written"]),
    )


def _by_relation(objects: Owned) -> dict[int, list[SchemaObject]]:
    owned: dict[int, list[SchemaObject]] = {0: []}
    for relation, obj in objects:
        owned.setdefault(relation, []).append(obj)
    return owned
