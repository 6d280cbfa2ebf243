"""Secrets in version control and privileges wider than meant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.catalog import Catalog, Function
from migrator.sql.names import object_name
from migrator.sql.replay import configure_function
from migrator.sql.tree import def_option, walk


@rule(
    "hardcoded-password",
    Severity.ERROR,
    kinds=(
        "CreateRoleStmt",
        "AlterRoleStmt",
        "CreateUserMappingStmt",
        "AlterUserMappingStmt",
        "DoStmt",
        "CreateFunctionStmt",
        "SelectStmt",
        "CallStmt",
    ),
)
def hardcoded_password(ctx: StatementContext) -> Iterator[Hit]:
    """A password written in the migration.

    What it does:
    Flags a literal password wherever a migration can hold one:
    `CREATE|ALTER ROLE|USER ... PASSWORD '...'` (`PASSWORD NULL` is fine),
    `CREATE|ALTER USER MAPPING ... OPTIONS (password '...')`, a connection string
    with `password=` (`dblink_connect('host=... password=...')`), and the same inside
    `DO` blocks, function and procedure bodies and the strings they `EXECUTE`
    (`EXECUTE 'CREATE ROLE x PASSWORD ''...'''`). A password built at run time
    (`format('... PASSWORD %L', secret)`, a variable) is not flagged.

    Why it hurts:
    The secret is committed to version control, copied into every clone, CI log and
    backup of the repository, and is the same in every environment. Wrapping the
    statement in a `DO` block or a string changes none of that.

    Example:

        DO $$ BEGIN
          CREATE ROLE reporting LOGIN PASSWORD 'hunter2';
        END $$;

    Use instead:

        CREATE ROLE reporting LOGIN;

    and set the password out of band (`\\password`, a secrets manager, or
    `ALTER ROLE ... PASSWORD` run by provisioning with the value from the
    environment).

    PostgreSQL versions:
    All.
    """
    if ctx.kind in ("CreateRoleStmt", "AlterRoleStmt"):
        password = def_option(ctx.fields.get("options"), "password")
        if password is not None and password.get("arg") is not None:
            role = ctx.fields.get("role")
            name = role.get("rolename", "") if isinstance(role, dict) else role
            yield Hit(
                f"role {name} gets a literal password: the secret is now in version control",
                "create the role without PASSWORD and set it out of band",
            )
        return
    if ctx.kind in ("CreateUserMappingStmt", "AlterUserMappingStmt"):
        if def_option(ctx.fields.get("options"), "password") is not None:
            yield Hit(
                f"the user mapping for server {ctx.fields.get('servername', '')} holds a "
                "literal password: the secret is now in version control",
                "create the mapping without the password option and set it out of band "
                "(ALTER USER MAPPING ... OPTIONS (ADD password ...) run by provisioning)",
            )
        return
    if not _may_hold_password(ctx.statement.text):
        return  # no string of the statement can say "password"
    body = ctx.kind in ("DoStmt", "CreateFunctionStmt")
    for where in embedded_passwords(ctx.fields, body=body):
        yield Hit(
            f"a literal password {where}: the secret is now in version control",
            "build the statement without the password and set it out of band",
        )
        return


# the patterns are compiled when first used (``re`` caches them): most runs never need them
#: ``PASSWORD 'x'`` (or ``''x''`` inside a quoted string): a literal after the keyword,
#: not the end of a string that a variable is appended to (``PASSWORD ' || secret``)
_PASSWORD_LITERAL = r"(?i)\bpassword\s+E?('{1,2})(?!\s*\|\|)([^'\s][^']*)\1"
#: a libpq connection string with a literal ``password=`` and some other setting
_CONNINFO_PASSWORD = r"(?i)(?:^|\s)password\s*=\s*(?!['%$\s])\S"
_CONNINFO_OTHER = r"(?i)(?:^|\s)(?:host|hostaddr|port|dbname|user)\s*="
#: a quoted literal inside a body (``''`` is a quote inside it)
_BODY_LITERAL = r"'((?:[^']|'')*)'"


def _may_hold_password(text: str) -> bool:
    """A string constant of the statement may say ``password``: the word is in its text,
    or the text has escapes that could spell it (``E'\\160assword'``,
    ``U&'\\0070assword'``)."""
    lowered = text.lower()
    return "password" in lowered or "\\" in text or "u&" in lowered


def embedded_passwords(fields: Any, *, body: bool) -> Iterator[str]:
    """Where a literal password stands in the strings of ``fields``: in a ``DO`` or
    function body (``body``: the SQL it runs, and the strings it runs), or in a
    connection string passed to a function such as ``dblink_connect``."""
    for kind, node in walk(fields):
        value = node.get("sval") if kind in ("String", "A_Const") else None
        text = value.get("sval") if isinstance(value, dict) else value
        if not isinstance(text, str) or "password" not in text.lower():
            continue
        if body and re.search(_PASSWORD_LITERAL, text):
            yield "in the body (PASSWORD '...')"
            continue
        if body:
            strings = [
                match.group(1).replace("''", "'") for match in re.finditer(_BODY_LITERAL, text)
            ]
        else:
            strings = [text]
        for string in strings:
            if re.search(_PASSWORD_LITERAL, string):
                yield "in a string the body executes (PASSWORD '...')"
                break
            if re.search(_CONNINFO_PASSWORD, string) and re.search(_CONNINFO_OTHER, string):
                yield "in a connection string (password=...)"
                break


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
    if before is None and not creates:
        ctx.note_unknown("function", qualified, "a function without its own search_path")
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
