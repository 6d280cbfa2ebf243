-- The read-only role the MCP server connects as, and the function that audits it.
--
-- mcp_server_user is created NOLOGIN and without a password: no secret ever lives in
-- version control. Operations enables it out of band, from the secrets store, e.g.
--     ALTER ROLE mcp_server_user LOGIN PASSWORD <from the secrets store>;
-- (with psql, `\password mcp_server_user` keeps the password out of logs).
--
-- A role is cluster-wide: if one already exists (made by ops, or by this migration in
-- another database of the same cluster) it is left exactly as it is. A role this
-- migration creates carries a comment saying so; the down migration drops only such a
-- role, and only once nothing in any database depends on it.
--
-- Table grants come with the tables (002), after they exist: this migration grants
-- only USAGE on the schema.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mcp_server_user') THEN
        CREATE ROLE mcp_server_user NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
        COMMENT ON ROLE mcp_server_user IS
            'read-only MCP server role; created by migration 001_phase0_mcp_user_permissions';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO mcp_server_user;

-- One row per privilege mcp_server_user holds (directly, through PUBLIC or through
-- membership) on a table, view or schema outside the system schemas, plus its role
-- attributes. `violation` is true for anything a read-only role must not have:
-- any table privilege but SELECT, CREATE on a schema, or a powerful role attribute.
-- Usage: SELECT * FROM validate_mcp_user_permissions() WHERE violation;
-- SECURITY INVOKER (the default): the has_*_privilege functions need no special rights.
CREATE FUNCTION public.validate_mcp_user_permissions()
RETURNS TABLE (object_type text, object_name text, privilege text, violation boolean)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    role_oid oid;
BEGIN
    SELECT oid INTO role_oid FROM pg_roles WHERE rolname = 'mcp_server_user';
    IF role_oid IS NULL THEN
        RETURN QUERY SELECT 'role'::text, 'mcp_server_user'::text, 'missing'::text, true;
        RETURN;
    END IF;

    RETURN QUERY
    SELECT 'role'::text, r.rolname::text, attribute.name, true
    FROM pg_roles AS r
    CROSS JOIN LATERAL (VALUES
        ('SUPERUSER', r.rolsuper),
        ('CREATEROLE', r.rolcreaterole),
        ('CREATEDB', r.rolcreatedb),
        ('BYPASSRLS', r.rolbypassrls),
        ('REPLICATION', r.rolreplication)
    ) AS attribute (name, held)
    WHERE r.oid = role_oid AND attribute.held;

    RETURN QUERY
    SELECT 'schema'::text, n.nspname::text, p.name, p.name <> 'USAGE'
    FROM pg_namespace AS n
    CROSS JOIN (VALUES ('USAGE'), ('CREATE')) AS p (name)
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname NOT LIKE 'pg\_temp\_%'
      AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
      AND has_schema_privilege(role_oid, n.oid, p.name)
    ORDER BY n.nspname, p.name;

    RETURN QUERY
    SELECT 'table'::text, format('%I.%I', n.nspname, c.relname), p.name, p.name <> 'SELECT'
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    CROSS JOIN (VALUES
        ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'),
        ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')
    ) AS p (name)
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND has_table_privilege(role_oid, c.oid, p.name)
    ORDER BY n.nspname, c.relname, p.name;
END
$$;

COMMENT ON FUNCTION public.validate_mcp_user_permissions() IS
    'privileges of mcp_server_user; violation = more than read-only access';
