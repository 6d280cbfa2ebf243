"""Read a database's schema from the catalog into a :class:`~migrator.schema.model.Schema`.

Definitions come from the server's own deparsers (``format_type``,
``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_viewdef``,
``pg_get_functiondef``, ``pg_get_triggerdef``, ``pg_get_expr``), so two databases with
the same schema read the same, whatever text created them. Left out on purpose: system
schemas, objects that belong to an extension (the extension and its version stand for
them), owners (they differ between production and a rehearsal, and say nothing about
the shape), and the migrator's own ledger tables.

Privileges are compared as *differences from the defaults*: an object whose ACL is
what PostgreSQL would give it anyway has no grant objects, so a ``GRANT`` followed by
the matching ``REVOKE`` reads the same as neither.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from migrator.config import Settings
from migrator.schema.model import Schema, SchemaObject, display_name, make_object

_SYSTEM_SCHEMA = (
    "{ns}.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND {ns}.nspname NOT LIKE 'pg\\_toast%'"
    " AND {ns}.nspname NOT LIKE 'pg\\_temp\\_%'"
)


def _user_schema(alias: str) -> str:
    return _SYSTEM_SCHEMA.format(ns=alias)


def _not_extension_member(catalog: str, alias: str) -> str:
    return (
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS ext_dep"
        f" WHERE ext_dep.classid = 'pg_catalog.{catalog}'::regclass"
        f" AND ext_dep.objid = {alias}.oid AND ext_dep.deptype = 'e')"
    )


_QUALIFIED = "quote_ident({ns}.nspname) || '.' || quote_ident({obj})"


def _qualified(ns: str, obj: str) -> str:
    return _QUALIFIED.format(ns=ns, obj=obj)


@dataclass(frozen=True)
class Exclusions:
    """Tables left out of the schema (the migrator's ledger and its history)."""

    schema: str = "public"
    tables: tuple[str, ...] = ("migrator_ledger", "migrator_ledger_history")

    @classmethod
    def for_ledger(cls, ledger_schema: str, ledger_table: str) -> Exclusions:
        return cls(ledger_schema, (ledger_table, f"{ledger_table}_history"))

    @classmethod
    def of(cls, settings: Settings) -> Exclusions:
        """The ledger tables the settings name."""
        return cls.for_ledger(settings.ledger_schema, settings.ledger_table)


_EXCLUDED_OIDS = """
WITH excluded_tables AS (
    SELECT c.oid FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = ANY($2::text[])
)
SELECT oid FROM excluded_tables
UNION SELECT i.indexrelid FROM pg_catalog.pg_index AS i
    WHERE i.indrelid IN (SELECT oid FROM excluded_tables)
UNION SELECT d.objid FROM pg_catalog.pg_depend AS d
    WHERE d.classid = 'pg_catalog.pg_class'::regclass
      AND d.refclassid = 'pg_catalog.pg_class'::regclass
      AND d.refobjid IN (SELECT oid FROM excluded_tables)
UNION SELECT t.oid FROM pg_catalog.pg_type AS t
    WHERE t.typrelid IN (SELECT oid FROM excluded_tables)
UNION SELECT a.oid FROM pg_catalog.pg_type AS a
    JOIN pg_catalog.pg_type AS t ON a.typelem = t.oid
    WHERE t.typrelid IN (SELECT oid FROM excluded_tables)
"""

_RELKIND_NAMES = {
    "r": "table",
    "p": "partitioned table",
    "f": "foreign table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
}

_SCHEMAS = f"""
SELECT quote_ident(n.nspname) AS name FROM pg_catalog.pg_namespace AS n
WHERE {_user_schema("n")} AND {_not_extension_member("pg_namespace", "n")}
"""

_EXTENSIONS = """
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
"""

_ROLES = """
SELECT r.rolname AS name, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb,
       r.rolcanlogin, r.rolreplication, r.rolbypassrls, r.rolconnlimit,
       ARRAY(SELECT g.rolname FROM pg_catalog.pg_auth_members AS m
             JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_catalog.pg_roles AS r
WHERE r.rolname !~ '^pg_' AND r.oid <> 10
"""

_RELATIONS = f"""
SELECT c.oid AS relation_oid, c.relkind::text AS relkind, {_qualified("n", "c.relname")} AS name,
       c.relpersistence::text AS persistence, c.relrowsecurity, c.relforcerowsecurity,
       array_to_string(c.reloptions, ', ') AS options,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END
           AS partition_bound,
       (SELECT string_agg(p.oid::regclass::text, ', ' ORDER BY i.inhseqno)
          FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
         WHERE i.inhrelid = c.oid) AS inherits,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END
           AS definition,
       CASE WHEN c.relkind = 'm' THEN c.relispopulated END AS populated,
       CASE WHEN c.relkind IN ('r', 'p') THEN
           CASE c.relreplident WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full'
                WHEN 'i' THEN 'using index ' || coalesce(
                    (SELECT quote_ident(ri.relname) FROM pg_catalog.pg_index AS x
                     JOIN pg_catalog.pg_class AS ri ON ri.oid = x.indexrelid
                     WHERE x.indrelid = c.oid AND x.indisreplident),
                    '(dropped: acts as nothing)') END
       END AS replica_identity,
       CASE WHEN c.relkind = 'v' THEN
           (SELECT string_agg(quote_ident(va.attname) || ' = '
                              || pg_catalog.pg_get_expr(vd.adbin, vd.adrelid), ', '
                              ORDER BY va.attnum)
            FROM pg_catalog.pg_attrdef AS vd
            JOIN pg_catalog.pg_attribute AS va
              ON va.attrelid = vd.adrelid AND va.attnum = vd.adnum
            WHERE vd.adrelid = c.oid) END AS column_defaults
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND {_user_schema("n")} AND {_not_extension_member("pg_class", "c")}
  AND c.oid <> ALL($1::oid[])
"""

_COLUMNS = f"""
SELECT c.oid AS relation_oid, {_qualified("n", "c.relname")} AS relation,
       c.relkind::text AS relkind, a.attname AS name,
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END
           AS default_value,
       CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
       CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END
           AS generated,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN a.attcollation::regcollation::text END AS collation,
       CASE WHEN a.attstorage <> t.typstorage THEN
           CASE a.attstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external'
                             WHEN 'm' THEN 'main' WHEN 'x' THEN 'extended' END END AS storage,
       CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END AS statistics
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f')
  AND {_user_schema("n")} AND {_not_extension_member("pg_class", "c")}
  AND c.oid <> ALL($1::oid[])
"""

_SEQUENCES = f"""
SELECT c.oid AS relation_oid, {_qualified("n", "c.relname")} AS name,
       pg_catalog.format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       (SELECT {_qualified("tn", "t.relname")} || '.' || quote_ident(ta.attname)
          FROM pg_catalog.pg_depend AS d
          JOIN pg_catalog.pg_class AS t ON t.oid = d.refobjid
          JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
          JOIN pg_catalog.pg_attribute AS ta ON ta.attrelid = t.oid AND ta.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
           AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'
         LIMIT 1) AS owned_by
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_sequence AS s ON s.seqrelid = c.oid
WHERE c.relkind = 'S' AND {_user_schema("n")} AND {_not_extension_member("pg_class", "c")}
  AND c.oid <> ALL($1::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS i
                  WHERE i.classid = 'pg_catalog.pg_class'::regclass AND i.objid = c.oid
                    AND i.deptype = 'i')
"""

_CONSTRAINTS = f"""
SELECT con.conrelid AS relation_oid,
       CASE WHEN con.conrelid <> 0 THEN {_qualified("rn", "r.relname")}
            ELSE {_qualified("tn", "t.typname")} END AS owner,
       CASE WHEN con.conrelid <> 0 THEN r.relkind::text ELSE 'domain' END AS owner_kind,
       con.conname AS name, con.contype::text AS type,
       pg_catalog.pg_get_constraintdef(con.oid, true) AS definition,
       con.convalidated AS valid
FROM pg_catalog.pg_constraint AS con
LEFT JOIN pg_catalog.pg_class AS r ON r.oid = con.conrelid
LEFT JOIN pg_catalog.pg_namespace AS rn ON rn.oid = r.relnamespace
LEFT JOIN pg_catalog.pg_type AS t ON t.oid = con.contypid
LEFT JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.typnamespace
JOIN pg_catalog.pg_namespace AS n ON n.oid = con.connamespace
WHERE con.contype <> 'n' AND {_user_schema("n")}
  AND (con.conrelid = 0 OR con.conrelid <> ALL($1::oid[]))
  AND (con.conrelid = 0 OR {_not_extension_member("pg_class", "r")})
  AND (con.contypid = 0 OR {_not_extension_member("pg_type", "t")})
"""

_INDEXES = f"""
SELECT i.indrelid AS relation_oid, {_qualified("n", "ic.relname")} AS name,
       {_qualified("tn", "tc.relname")} AS relation,
       tc.relkind::text AS relkind,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       i.indisvalid AS valid, i.indisready AS ready
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = ic.relnamespace
JOIN pg_catalog.pg_class AS tc ON tc.oid = i.indrelid
JOIN pg_catalog.pg_namespace AS tn ON tn.oid = tc.relnamespace
WHERE {_user_schema("n")} AND {_not_extension_member("pg_class", "ic")}
  AND {_not_extension_member("pg_class", "tc")}
  AND i.indrelid <> ALL($1::oid[])
"""

_FUNCTIONS = f"""
SELECT {_qualified("n", "p.proname")} || '('
           || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS name,
       p.prokind::text AS prokind,
       CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition,
       CASE WHEN p.prokind = 'a' THEN
           'sfunc=' || ag.aggtransfn::regproc::text
           || ' stype=' || pg_catalog.format_type(ag.aggtranstype, NULL)
           || coalesce(' finalfunc=' || nullif(ag.aggfinalfn, 0)::regproc::text, '')
           || coalesce(' combinefunc=' || nullif(ag.aggcombinefn, 0)::regproc::text, '')
           || coalesce(' initcond=' || ag.agginitval, '')
           || ' returns ' || pg_catalog.pg_get_function_result(p.oid)
       END AS aggregate
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
LEFT JOIN pg_catalog.pg_aggregate AS ag ON ag.aggfnoid = p.oid
WHERE {_user_schema("n")} AND {_not_extension_member("pg_proc", "p")}
"""

#: ``tgenabled`` / ``ev_enabled`` / ``evtenabled`` in words.
_ENABLED = (
    "CASE {column} WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'on replicas only'"
    " WHEN 'A' THEN 'always' ELSE {column}::text END"
)

_TRIGGERS = f"""
SELECT c.oid AS relation_oid, {_qualified("n", "c.relname")} AS relation,
       c.relkind::text AS relkind,
       tg.tgname AS name, pg_catalog.pg_get_triggerdef(tg.oid, true) AS definition,
       {_ENABLED.format(column="tg.tgenabled")} AS enabled
FROM pg_catalog.pg_trigger AS tg
JOIN pg_catalog.pg_class AS c ON c.oid = tg.tgrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND {_user_schema("n")}
  AND {_not_extension_member("pg_class", "c")} AND c.oid <> ALL($1::oid[])
"""

_EVENT_TRIGGERS = f"""
SELECT e.evtname AS name, e.evtevent AS event, e.evtfoid::regproc::text AS function,
       {_ENABLED.format(column="e.evtenabled")} AS enabled,
       array_to_string(e.evttags, ', ') AS tags
FROM pg_catalog.pg_event_trigger AS e
WHERE {_not_extension_member("pg_event_trigger", "e")}
"""

_RULES = f"""
SELECT c.oid AS relation_oid, {_qualified("n", "c.relname")} AS relation,
       c.relkind::text AS relkind,
       r.rulename AS name, pg_catalog.pg_get_ruledef(r.oid, true) AS definition,
       {_ENABLED.format(column="r.ev_enabled")} AS enabled
FROM pg_catalog.pg_rewrite AS r
JOIN pg_catalog.pg_class AS c ON c.oid = r.ev_class
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND {_user_schema("n")}
  AND {_not_extension_member("pg_class", "c")} AND c.oid <> ALL($1::oid[])
"""

_POLICIES = f"""
SELECT c.oid AS relation_oid, {_qualified("n", "c.relname")} AS relation,
       c.relkind::text AS relkind,
       p.polname AS name,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
       p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END
             FROM unnest(p.polroles) AS r ORDER BY 1) AS roles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expression,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expression
FROM pg_catalog.pg_policy AS p
JOIN pg_catalog.pg_class AS c ON c.oid = p.polrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE {_user_schema("n")} AND c.oid <> ALL($1::oid[])
"""

_TYPES = f"""
SELECT {_qualified("n", "t.typname")} AS name, t.typtype::text AS typtype,
       CASE WHEN t.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum AS e
                 WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
       CASE WHEN t.typtype = 'c' THEN
           ARRAY(SELECT quote_ident(a.attname) || ' '
                        || pg_catalog.format_type(a.atttypid, a.atttypmod)
                 FROM pg_catalog.pg_attribute AS a
                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum) END AS fields,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END
           AS base_type,
       CASE WHEN t.typtype = 'd' THEN t.typnotnull END AS not_null,
       t.typdefault AS default_value,
       CASE WHEN t.typtype = 'r' THEN
           (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range AS r
            WHERE r.rngtypid = t.oid) END AS subtype
FROM pg_catalog.pg_type AS t
JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_class AS c ON c.oid = t.typrelid
WHERE t.typtype IN ('e', 'c', 'd', 'r', 'b')
  AND (t.typtype <> 'c' OR c.relkind = 'c')
  AND NOT (t.typtype = 'b' AND t.typcategory = 'A')
  AND {_user_schema("n")} AND {_not_extension_member("pg_type", "t")}
  AND t.oid <> ALL($1::oid[])
"""

_STATISTICS = f"""
SELECT s.stxrelid AS relation_oid, {_qualified("n", "s.stxname")} AS name,
       pg_catalog.pg_get_statisticsobjdef(s.oid) AS definition
FROM pg_catalog.pg_statistic_ext AS s
JOIN pg_catalog.pg_namespace AS n ON n.oid = s.stxnamespace
WHERE {_user_schema("n")} AND s.stxrelid <> ALL($1::oid[])
"""

# Effective ACL entries (explicit, or the defaults when the ACL is NULL) next to the
# default entries, per object; Python keeps the grantees whose privileges differ.
_ACL_OBJECTS = f"""
SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                      ELSE 'table' END AS kind,
       {_qualified("n", "c.relname")} AS name, c.relowner AS owner, c.relacl AS acl,
       CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END AS default_kind, c.oid AS relation_oid
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relacl IS NOT NULL
  AND {_user_schema("n")} AND {_not_extension_member("pg_class", "c")}
  AND c.oid <> ALL($1::oid[]) {{scope}}
UNION ALL
SELECT 'column', {_qualified("n", "c.relname")} || '.' || quote_ident(a.attname),
       c.relowner, a.attacl, 'c', c.oid
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
  AND {_user_schema("n")} AND c.oid <> ALL($1::oid[]) {{scope}}
UNION ALL
SELECT 'schema', quote_ident(n.nspname), n.nspowner, n.nspacl, 'n', 0
FROM pg_catalog.pg_namespace AS n
WHERE n.nspacl IS NOT NULL AND {_user_schema("n")}
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
       {_qualified("n", "p.proname")} || '('
           || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       p.proowner, p.proacl, 'f', 0
FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.proacl IS NOT NULL AND {_user_schema("n")} AND {_not_extension_member("pg_proc", "p")}
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, {_qualified("n", "t.typname")},
       t.typowner, t.typacl, 'T', 0
FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
WHERE t.typacl IS NOT NULL AND {_user_schema("n")} AND {_not_extension_member("pg_type", "t")}
"""

_ACL_ENTRIES = f"""
WITH objects AS ({_ACL_OBJECTS})
SELECT o.kind, o.name, o.owner, 'effective' AS source, x.grantee, x.privilege_type,
       x.is_grantable, o.relation_oid
FROM objects AS o, LATERAL aclexplode(o.acl) AS x
UNION ALL
SELECT o.kind, o.name, o.owner, 'default', x.grantee, x.privilege_type, x.is_grantable,
       o.relation_oid
FROM objects AS o, LATERAL aclexplode(acldefault(o.default_kind::"char", o.owner)) AS x
"""
#: the grants of every relation, or (``$2``) of the relations listed
_ACL_ENTRIES_OF = {
    False: _ACL_ENTRIES.format(scope=""),
    True: _ACL_ENTRIES.format(scope="AND c.oid = ANY($2::oid[])"),
}

_ROLE_NAMES = "SELECT oid, rolname FROM pg_catalog.pg_roles"

_DEFAULT_PRIVILEGES = """
SELECT pg_catalog.pg_get_userbyid(d.defaclrole) AS role, quote_ident(n.nspname) AS schema,
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
            WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas'
            ELSE d.defaclobjtype::text END AS object_type,
       (SELECT string_agg('to ' || g.grantee || ': ' || g.privileges, '; ' ORDER BY g.grantee)
          FROM (SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC'
                            ELSE pg_catalog.pg_get_userbyid(x.grantee)::text END AS grantee,
                       string_agg(x.privilege_type
                                  || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION'
                                          ELSE '' END, ', ' ORDER BY x.privilege_type)
                           AS privileges
                  FROM aclexplode(d.defaclacl) AS x GROUP BY 1) AS g) AS privileges
FROM pg_catalog.pg_default_acl AS d
LEFT JOIN pg_catalog.pg_namespace AS n ON n.oid = d.defaclnamespace
"""

# Objects made by initdb have oids below 16384 (FirstNormalObjectId): their comments
# are the server's, not the application's.
_COMMENTS = """
SELECT o.type, o.identity, d.description
FROM pg_catalog.pg_description AS d,
     LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) AS o
WHERE d.objoid >= 16384
  AND (o.schema IS NULL OR o.schema NOT IN ('pg_catalog', 'information_schema'))
  AND (o.schema IS NULL OR o.schema NOT LIKE 'pg\\_toast%')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS ext_dep
                  WHERE ext_dep.classid = d.classoid AND ext_dep.objid = d.objoid
                    AND ext_dep.deptype = 'e')
  AND NOT (d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = ANY($1::oid[]))
"""

#: ``public.`` before a name inside an object identity (``public.accounts.id``), as
#: everywhere else in the diff: the public schema goes without saying.
_PUBLIC_PREFIX = re.compile(r'(?<![\w"$])public\.')

_PUBLICATIONS = """
SELECT quote_ident(p.pubname) AS name, p.puballtables AS all_tables,
       concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END,
                 CASE WHEN p.pubupdate THEN 'update' END,
                 CASE WHEN p.pubdelete THEN 'delete' END,
                 CASE WHEN p.pubtruncate THEN 'truncate' END) AS publishes,
       p.pubviaroot AS via_root,
       (SELECT string_agg(t.entry, ', ' ORDER BY t.entry) FROM (
            SELECT pr.prrelid::regclass::text {table_details} AS entry
            FROM pg_catalog.pg_publication_rel AS pr WHERE pr.prpubid = p.oid) AS t) AS tables
       {schemas}
FROM pg_catalog.pg_publication AS p
"""
#: PostgreSQL 15 added column lists, row filters and ``FOR TABLES IN SCHEMA``.
_PUBLICATION_15 = {
    "table_details": """
        || coalesce(' (' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                             FROM pg_catalog.pg_attribute AS a
                             WHERE a.attrelid = pr.prrelid AND a.attnum = ANY(pr.prattrs))
                    || ')', '')
        || coalesce(' WHERE ' || pg_catalog.pg_get_expr(pr.prqual, pr.prrelid), '')""",
    "schemas": """,
       (SELECT string_agg(quote_ident(pn.nspname), ', ' ORDER BY pn.nspname)
          FROM pg_catalog.pg_publication_namespace AS pnn
          JOIN pg_catalog.pg_namespace AS pn ON pn.oid = pnn.pnnspid
         WHERE pnn.pnpubid = p.oid) AS schemas""",
}

_FUNCTION_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "function"}
_TYPE_KINDS = {"e": "enum", "c": "composite", "r": "range", "b": "base", "d": "domain"}


def _relation_kind(relkind: str) -> str:
    return _RELKIND_NAMES.get(relkind, "table")


def _array(value: Sequence[Any] | None) -> str | None:
    if value is None:
        return None
    return ", ".join(str(item) for item in value)


async def _fetch(connection: Any, query: str, *args: Any) -> list[Any]:
    rows: list[Any] = await connection.fetch(query, *args)
    return rows


#: Objects that belong to a relation (its columns, constraints, indexes, ...), each with
#: the oid of that relation; 0 for those read whole every time (domain constraints).
Owned = list[tuple[int, SchemaObject]]

#: How each relation-owned query is narrowed to some relations (``$2``).
_IN_SCOPE = "c.oid = ANY($2::oid[])"
_SCOPES = {
    "indexes": "i.indrelid = ANY($2::oid[])",
    "constraints": "(con.conrelid = 0 OR con.conrelid = ANY($2::oid[]))",
    "statistics": "s.stxrelid = ANY($2::oid[])",
}


async def _fetch_owned(
    connection: Any, query: str, excluded: list[int], relations: list[int] | None, scope: str
) -> list[Any]:
    """Rows of a relation-owned query: every relation's, or (``relations``) only those
    of the relations listed."""
    if relations is None:
        return await _fetch(connection, query, excluded)
    return await _fetch(connection, f"{query}  AND {scope}\n", excluded, relations)


async def excluded_relations(connection: Any, exclusions: Exclusions) -> list[int]:
    """Oids of the excluded tables and everything that hangs off them."""
    rows = await _fetch(connection, _EXCLUDED_OIDS, exclusions.schema, list(exclusions.tables))
    return [int(row["oid"]) for row in rows]


async def _relations(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    objects = []
    for row in await _fetch_owned(connection, _RELATIONS, excluded, relations, _IN_SCOPE):
        obj = make_object(
            _relation_kind(row["relkind"]),
            row["name"],
            {
                "unlogged": True if row["persistence"] == "u" else None,
                "row level security": True if row["relrowsecurity"] else None,
                "forced row level security": True if row["relforcerowsecurity"] else None,
                "options": row["options"],
                "partition key": row["partition_key"],
                "partition bound": row["partition_bound"],
                "inherits": row["inherits"],
                "definition": row["definition"],
                "populated": row["populated"],
                "replica identity": row["replica_identity"],
                "column defaults": row["column_defaults"],
            },
        )
        objects.append((int(row["relation_oid"]), obj))
    return objects


async def _columns(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    objects = []
    for row in await _fetch_owned(connection, _COLUMNS, excluded, relations, _IN_SCOPE):
        parent = (_relation_kind(row["relkind"]), row["relation"])
        obj = make_object(
            "column",
            f"{row['relation']}.{row['name']}",
            {
                "position": row["position"],
                "type": row["type"],
                "not null": row["not_null"],
                "default": row["default_value"],
                "identity": row["identity"],
                "generated": row["generated"],
                "collation": row["collation"],
                "storage": row["storage"],
                "statistics target": row["statistics"],
            },
            parent=parent,
            label=row["name"],
        )
        objects.append((int(row["relation_oid"]), obj))
    return objects


async def _sequences(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    return [
        (
            int(row["relation_oid"]),
            make_object(
                "sequence",
                row["name"],
                {
                    "type": row["type"],
                    "start": row["seqstart"],
                    "increment": row["seqincrement"],
                    "min": row["seqmin"],
                    "max": row["seqmax"],
                    "cache": row["seqcache"],
                    "cycle": row["seqcycle"],
                    "owned by": display_name(row["owned_by"]) if row["owned_by"] else None,
                },
            ),
        )
        for row in await _fetch_owned(connection, _SEQUENCES, excluded, relations, _IN_SCOPE)
    ]


async def _constraints(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    objects = []
    rows = await _fetch_owned(connection, _CONSTRAINTS, excluded, relations, _SCOPES["constraints"])
    for row in rows:
        owner_kind = row["owner_kind"]
        parent_kind = "domain" if owner_kind == "domain" else _relation_kind(owner_kind)
        obj = make_object(
            "constraint",
            f"{row['owner']}.{row['name']}",
            {
                # validity is its own attribute: "now VALID", not a changed text
                "definition": row["definition"].removesuffix(" NOT VALID"),
                "valid": row["valid"],
            },
            parent=(parent_kind, row["owner"]),
            label=row["name"],
        )
        objects.append((int(row["relation_oid"]), obj))
    return objects


async def _indexes(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    objects = []
    rows = await _fetch_owned(connection, _INDEXES, excluded, relations, _SCOPES["indexes"])
    for row in rows:
        obj = make_object(
            "index",
            row["name"],
            {
                "definition": row["definition"],
                "valid": row["valid"],
                "ready": None if row["ready"] else False,
            },
            parent=(_relation_kind(row["relkind"]), row["relation"]),
            label=row["name"].split(".", 1)[-1],
        )
        objects.append((int(row["relation_oid"]), obj))
    return objects


async def _functions(connection: Any) -> list[SchemaObject]:
    return [
        make_object(
            _FUNCTION_KINDS.get(row["prokind"], "function"),
            row["name"],
            {"definition": row["definition"] or row["aggregate"]},
        )
        for row in await _fetch(connection, _FUNCTIONS)
    ]


async def _table_children(
    connection: Any, query: str, kind: str, excluded: list[int], relations: list[int] | None
) -> Owned:
    """Triggers, rules: objects named within their table, with a definition."""
    return [
        (
            int(row["relation_oid"]),
            make_object(
                kind,
                f"{row['relation']}.{row['name']}",
                {"definition": row["definition"], "enabled": row["enabled"]},
                parent=(_relation_kind(row["relkind"]), row["relation"]),
                label=row["name"],
            ),
        )
        for row in await _fetch_owned(connection, query, excluded, relations, _IN_SCOPE)
    ]


async def _policies(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    return [
        (
            int(row["relation_oid"]),
            make_object(
                "policy",
                f"{row['relation']}.{row['name']}",
                {
                    "command": row["command"],
                    "permissive": row["permissive"],
                    "roles": _array(row["roles"]),
                    "using": row["using_expression"],
                    "with check": row["check_expression"],
                },
                parent=(_relation_kind(row["relkind"]), row["relation"]),
                label=row["name"],
            ),
        )
        for row in await _fetch_owned(connection, _POLICIES, excluded, relations, _IN_SCOPE)
    ]


async def _statistics(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    rows = await _fetch_owned(connection, _STATISTICS, excluded, relations, _SCOPES["statistics"])
    return [
        (
            int(row["relation_oid"]),
            make_object("statistics", row["name"], {"definition": row["definition"]}),
        )
        for row in rows
    ]


async def _types(connection: Any, excluded: list[int]) -> list[SchemaObject]:
    objects = []
    for row in await _fetch(connection, _TYPES, excluded):
        typtype = row["typtype"]
        objects.append(
            make_object(
                "domain" if typtype == "d" else "type",
                row["name"],
                {
                    "variety": None if typtype == "d" else _TYPE_KINDS.get(typtype, typtype),
                    "labels": _array(row["labels"]),
                    "fields": _array(row["fields"]),
                    "base type": row["base_type"],
                    "not null": row["not_null"] or None,
                    "default": row["default_value"],
                    "subtype": row["subtype"],
                },
            )
        )
    return objects


async def _simple(connection: Any, query: str, kind: str, *args: Any) -> list[SchemaObject]:
    """One object per row: ``name`` is the identity, every other column an attribute."""
    objects = []
    for row in await _fetch(connection, query, *args):
        values = dict(row)
        name = values.pop("name")
        attributes = {
            key.replace("_", " "): _array(value) if isinstance(value, list) else value
            for key, value in values.items()
        }
        objects.append(make_object(kind, name, attributes))
    return objects


def _privilege_text(entries: Iterable[tuple[str, bool]]) -> str:
    shown = sorted(
        f"{privilege}{' WITH GRANT OPTION' if grantable else ''}"
        for privilege, grantable in entries
    )
    return ", ".join(shown) if shown else "none"


async def _grants(connection: Any, excluded: list[int], relations: list[int] | None) -> Owned:
    """Grants that differ from the defaults; those on a relation or its columns belong
    to it (only the listed ``relations``' are read when given)."""
    names = {int(row["oid"]): str(row["rolname"]) for row in await _fetch(connection, _ROLE_NAMES)}
    sets: dict[tuple[str, str, str], dict[str, set[tuple[str, bool]]]] = defaultdict(
        lambda: {"effective": set(), "default": set()}
    )
    owners: dict[tuple[str, str, str], int] = {}
    scoped = relations is not None
    arguments = (excluded, relations) if scoped else (excluded,)
    for row in await _fetch(connection, _ACL_ENTRIES_OF[scoped], *arguments):
        grantee_oid = int(row["grantee"])
        if grantee_oid == 0:
            grantee = "PUBLIC"
        elif grantee_oid == int(row["owner"]):
            grantee = "the owner"
        else:
            grantee = names.get(grantee_oid, str(grantee_oid))
        entry = (str(row["privilege_type"]), bool(row["is_grantable"]))
        key = (row["kind"], row["name"], grantee)
        sets[key][row["source"]].add(entry)
        owners[key] = int(row["relation_oid"])
    objects = []
    for (kind, name, grantee), both in sets.items():
        if both["effective"] == both["default"]:
            continue
        grant = make_object(
            "grant",
            f"{kind} {name} to {grantee}",
            {"privileges": _privilege_text(both["effective"])},
            parent=(kind, name),
            label=f"to {grantee}",
        )
        objects.append((owners[(kind, name, grantee)], grant))
    return objects


async def _publications(connection: Any) -> list[SchemaObject]:
    """Publications (logical replication): what they publish, from which tables."""
    version = connection.get_server_version()
    if version.major < 13:  # pubviaroot
        return []
    parts = _PUBLICATION_15 if version.major >= 15 else {"table_details": "", "schemas": ""}
    return await _simple(connection, _PUBLICATIONS.format(**parts), "publication")


async def _comments(connection: Any, excluded: list[int]) -> list[SchemaObject]:
    return [
        make_object(
            "comment",
            f"{row['type']} {row['identity']}",
            {"text": row["description"]},
            label=f"on {row['type']} {_PUBLIC_PREFIX.sub('', row['identity'])}",
        )
        for row in await _fetch(connection, _COMMENTS, excluded)
    ]


async def read_schema(
    connection: Any,
    *,
    exclusions: Exclusions | None = None,
    include_roles: bool = False,
) -> Schema:
    """The schema of the database ``connection`` (an asyncpg connection) is in.

    ``exclusions``: the ledger tables to leave out (default: ``public.migrator_ledger``
    and its history). ``include_roles``: also read the cluster's roles (a rehearsal
    checks that a down removes the roles its up created; a schema file does not hold
    roles).
    """
    exclusions = exclusions or Exclusions()
    async with consistent_read(connection):
        excluded = await excluded_relations(connection, exclusions)
        objects = await read_objects(connection, excluded, include_roles)
        return await finish_schema(connection, (obj for _, obj in objects), exclusions)


@contextlib.asynccontextmanager
async def consistent_read(connection: Any) -> AsyncIterator[None]:
    """Catalog queries inside see one snapshot, with the search path the deparsers
    need; inside the caller's transaction if there is one (then its snapshot)."""
    if connection.is_in_transaction():
        saved = await connection.fetchval("SELECT current_setting('search_path')")
        await connection.execute(_SEARCH_PATH)
        try:
            yield
        finally:
            await connection.execute("SELECT set_config('search_path', $1, true)", saved)
        return
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        await connection.execute(_SEARCH_PATH)
        yield


#: Expressions are deparsed relative to the search path: fix it, so that the same
#: schema reads the same from any session (public objects unqualified).
_SEARCH_PATH = "SELECT set_config('search_path', 'public', true)"


async def read_objects(
    connection: Any,
    excluded: list[int],
    include_roles: bool,
    relations: list[int] | None = None,
) -> Owned:
    """Every object of the schema, those that belong to a relation with its oid (the
    others with 0); with ``relations``, of the relation-owned ones only those of the
    relations listed (the others are always read whole). Call it inside
    :func:`consistent_read`."""
    shared: list[SchemaObject] = []
    shared += await _simple(connection, _SCHEMAS, "schema")
    shared += await _simple(connection, _EXTENSIONS, "extension")
    if include_roles:
        shared += await _simple(connection, _ROLES, "role")
    shared += await _types(connection, excluded)
    owned: Owned = []
    owned += await _sequences(connection, excluded, relations)
    owned += await _relations(connection, excluded, relations)
    owned += await _columns(connection, excluded, relations)
    owned += await _constraints(connection, excluded, relations)
    owned += await _indexes(connection, excluded, relations)
    shared += await _functions(connection)
    owned += await _table_children(connection, _TRIGGERS, "trigger", excluded, relations)
    owned += await _table_children(connection, _RULES, "rule", excluded, relations)
    shared += await _simple(connection, _EVENT_TRIGGERS, "event trigger")
    owned += await _policies(connection, excluded, relations)
    owned += await _statistics(connection, excluded, relations)
    owned += await _grants(connection, excluded, relations)
    shared += [
        make_object(
            "default privileges",
            f"for role {row['role']}"
            + (f" in schema {row['schema']}" if row["schema"] else "")
            + f" on {row['object_type']}",
            {"privileges": row["privileges"]},
        )
        for row in await _fetch(connection, _DEFAULT_PRIVILEGES)
    ]
    shared += await _publications(connection)
    shared += await _comments(connection, excluded)
    return [(0, obj) for obj in shared] + owned


async def finish_schema(
    connection: Any, objects: Iterable[SchemaObject], exclusions: Exclusions
) -> Schema:
    """The :class:`Schema` of the objects :func:`read_objects` read."""
    schema = Schema.of(objects)
    if exclusions.schema == "public":
        return schema
    ledger_schema = str(await connection.fetchval("SELECT quote_ident($1)", exclusions.schema))
    return _drop_empty_ledger_schema(schema, ledger_schema)


def _drop_empty_ledger_schema(schema: Schema, key_name: str) -> Schema:
    """The ledger's own schema (when it is not ``public``) is the runner's, not the
    application's: leave it out when nothing else lives in it."""
    if any(obj.name.startswith(f"{key_name}.") for obj in schema if obj.kind != "schema"):
        return schema
    return Schema.of(
        obj
        for obj in schema
        if not (obj.kind == "schema" and obj.name == key_name)
        and not (obj.kind == "comment" and obj.name == f"schema {key_name}")
        and not (obj.kind == "grant" and obj.parent == ("schema", key_name))
    )
