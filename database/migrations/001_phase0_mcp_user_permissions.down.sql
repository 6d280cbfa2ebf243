-- Reverts 001: the audit function, the schema grant and, when this migration made it
-- and nothing depends on it any more, the role.
--
-- A role is cluster-wide. It is dropped only if it carries the comment 001 writes on a
-- role it creates (a role that ops made is never touched) and pg_shdepend shows no
-- privilege or object in any database still referring to it (another database of the
-- same cluster may still use it). Otherwise it stays; the schema of this database is
-- restored either way.

DROP FUNCTION public.validate_mcp_user_permissions();

REVOKE USAGE ON SCHEMA public FROM mcp_server_user;

DO $$
DECLARE
    role_oid oid;
BEGIN
    SELECT oid INTO role_oid FROM pg_catalog.pg_roles WHERE rolname = 'mcp_server_user';
    IF role_oid IS NOT NULL
       AND pg_catalog.shobj_description(role_oid, 'pg_authid')
           = 'read-only MCP server role; created by migration 001_phase0_mcp_user_permissions'
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_shdepend
           WHERE refclassid = 'pg_catalog.pg_authid'::regclass AND refobjid = role_oid
       ) THEN
        DROP ROLE mcp_server_user;
    END IF;
END
$$;
