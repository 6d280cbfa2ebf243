"""Secrets in version control and privileges wider than meant."""

from __future__ import annotations

from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.catalog import Catalog, Function
from migrator.sql.names import object_name
from migrator.sql.replay import configure_function
from migrator.sql.tree import def_option


@rule("hardcoded-password", Severity.ERROR, kinds=("CreateRoleStmt", "AlterRoleStmt"))
def hardcoded_password(ctx: StatementContext) -> Iterator[Hit]:
    """A role's password written in the migration.

    What it does:
    Flags `CREATE ROLE|USER ... PASSWORD '...'` and `ALTER ROLE|USER ... PASSWORD '...'`
    with a literal password (`PASSWORD NULL` is fine).

    Why it hurts:
    The secret is committed to version control, copied into every clone, CI log and
    backup of the repository, and is the same in every environment.

    Example:

        CREATE ROLE reporting LOGIN PASSWORD 'hunter2';

    Use instead:

        CREATE ROLE reporting LOGIN;

    and set the password out of band (`\\password`, a secrets manager, or
    `ALTER ROLE ... PASSWORD` run by provisioning with the value from the
    environment).

    PostgreSQL versions:
    All.
    """
    password = def_option(ctx.fields.get("options"), "password")
    if password is not None and password.get("arg") is not None:
        role = ctx.fields.get("role")
        name = role.get("rolename", "") if isinstance(role, dict) else role
        yield Hit(
            f"role {name} gets a literal password: the secret is now in version control",
            "create the role without PASSWORD and set it out of band",
        )


@rule("grant-to-public", Severity.ERROR, kinds=("GrantStmt", "AlterDefaultPrivilegesStmt"))
def grant_to_public(ctx: StatementContext) -> Iterator[Hit]:
    """`GRANT ... TO PUBLIC` or `GRANT ALL`.

    What it does:
    Flags grants to `PUBLIC` (every role, including ones created later) and grants of
    `ALL` privileges, in `GRANT` and in `ALTER DEFAULT PRIVILEGES ... GRANT` (which
    applies them to every object created later).

    Why it hurts:
    Privileges wider than the application needs turn any leaked or read-only
    credential (a reporting user, an MCP server role) into one that can read or
    change everything it was granted.

    Example:

        GRANT ALL ON TABLE metrics TO PUBLIC;

    Use instead:

        GRANT SELECT ON TABLE metrics TO mcp_server_user;

    PostgreSQL versions:
    All.
    """
    grant = ctx.fields
    future = ""
    if ctx.kind == "AlterDefaultPrivilegesStmt":  # the grant of every future object
        grant = ctx.fields.get("action") or {}
        future = "ALTER DEFAULT PRIVILEGES: "
    if not grant.get("is_grant"):
        return
    to_public = any(
        grantee.get("RoleSpec", {}).get("roletype") == "ROLESPEC_PUBLIC"
        for grantee in grant.get("grantees") or ()
    )
    grant_all = not grant.get("privileges")
    if to_public:
        yield Hit(
            f"{future}GRANT ... TO PUBLIC gives the privilege to every role, present and future",
            "grant to the specific roles that need it",
        )
    if grant_all:
        yield Hit(
            f"{future}GRANT ALL gives every privilege, including TRUNCATE, REFERENCES and TRIGGER",
            "grant only the privileges the role needs (SELECT, INSERT, ...)",
        )


@rule(
    "security-definer-search-path",
    Severity.ERROR,
    kinds=("CreateFunctionStmt", "AlterFunctionStmt"),
)
def security_definer_search_path(ctx: StatementContext) -> Iterator[Hit]:
    """A `SECURITY DEFINER` function without its own `search_path`.

    What it does:
    Flags `CREATE FUNCTION` / `CREATE PROCEDURE` / `ALTER FUNCTION` that make a
    function `SECURITY DEFINER` without `SET search_path = ...`, and `ALTER FUNCTION
    ... RESET search_path` (or `RESET ALL`) of a `SECURITY DEFINER` function. A function
    that already sets its own `search_path` (in its `CREATE FUNCTION` or an earlier
    `ALTER FUNCTION`) may become `SECURITY DEFINER`, and an `ALTER FUNCTION ... SET
    search_path = ...` later in the same migration is the fix too.

    Why it hurts:
    The function runs with its owner's privileges but resolves names along the
    caller's `search_path`: a caller who can create objects in any schema on that
    path can plant a function or operator that the definer function then runs as its
    owner.

    Example:

        CREATE FUNCTION purge_user(uid bigint) RETURNS void
            SECURITY DEFINER LANGUAGE sql
            AS 'DELETE FROM users WHERE id = uid';

    Use instead:

        CREATE FUNCTION purge_user(uid bigint) RETURNS void
            SECURITY DEFINER SET search_path = pg_catalog, public LANGUAGE sql
            AS 'DELETE FROM public.users WHERE id = uid';

    PostgreSQL versions:
    All.
    """
    creates = ctx.kind == "CreateFunctionStmt"
    if creates:
        options, names = ctx.fields.get("options"), ctx.fields.get("funcname")
    else:
        options, names = ctx.fields.get("actions"), (ctx.fields.get("func") or {}).get("objname")
    schema, name = object_name(names)
    qualified = ctx.catalog.resolve(schema, name, kind="function")
    before = None if creates else ctx.catalog.function(qualified)
    after = configure_function(before or Function(qualified), options)
    if not _definer_without_search_path(after) or _definer_without_search_path(before):
        return  # safe now, or unsafe already (reported where it became so)

    def check(final: Catalog) -> Iterator[Hit]:
        function = final.function(final.current_name(qualified, kind="function"))
        if _definer_without_search_path(function):  # not fixed later in the file
            yield Hit(
                "SECURITY DEFINER function without SET search_path runs its owner's "
                "privileges along the caller's search_path",
                "add SET search_path = pg_catalog, <your schemas> to the function",
            )

    ctx.at_end_of_file("security-definer-search-path", check)
    yield from ()


def _definer_without_search_path(function: Function | None) -> bool:
    return function is not None and function.security_definer and not function.own_search_path
