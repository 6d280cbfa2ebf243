"""``[[discover]]``: ask a server which of its databases belong to the fleet.

Each entry's query runs in a read-only transaction under the command's connect and
statement timeouts; the first column of every row is a database name. A server that
cannot be reached, or a query that fails, does not stop the rest of the fleet: it
becomes a :class:`DiscoverFailure`, reported like an unreachable target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from migrator.config import Settings
from migrator.dsn import mask_dsn
from migrator.errors import ConnectionFailed, MigratorError, UsageError
from migrator.fleet.targets import (
    Discover,
    Target,
    TargetsFile,
    check_name,
    duplicate_names,
    target_for_database,
)

#: a discover query that runs longer than this (and no statement timeout is set) fails
_QUERY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class DiscoverFailure:
    """A ``[[discover]]`` entry whose databases could not be listed."""

    label: str
    url: str
    error: MigratorError


async def _list_databases(found: Discover, settings: Settings) -> list[str]:
    import asyncpg

    from migrator.db.connection import connect
    from migrator.runner.server_errors import server_message

    conn = await connect(replace(settings, database_url=found.url, **found.settings))
    try:
        timeout_ms = settings.statement_timeout or _QUERY_TIMEOUT_MS
        async with conn.transaction(readonly=True):
            await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            rows = await conn.fetch(found.query)
    except asyncpg.PostgresError as exc:
        raise UsageError(
            f"{found.label} ({mask_dsn(found.url)}): its query failed: {server_message(exc)}",
            hint="the query must return database names in its first column",
        ) from None
    finally:
        await conn.close()
    names = []
    for row in rows:
        value = row[0] if len(row) else None
        if not isinstance(value, str):
            raise UsageError(
                f"{found.label}: its query returned {type(value).__name__}, not a database name",
                hint="select a text column such as datname",
            )
        names.append(value)
    return names


async def resolve_targets(
    targets_file: TargetsFile, settings: Settings
) -> tuple[list[Target], list[DiscoverFailure]]:
    """The file's targets followed by every discovered database (each entry's names
    sorted, entries in file order), and the entries that failed. Names stay unique:
    a discovered name that clashes is a usage error."""
    found_lists = await asyncio.gather(
        *(_list_databases(found, settings) for found in targets_file.discover),
        return_exceptions=True,
    )
    targets = list(targets_file.targets)
    failures: list[DiscoverFailure] = []
    problems: list[str] = []
    for found, result in zip(targets_file.discover, found_lists, strict=True):
        if isinstance(result, MigratorError):
            failures.append(DiscoverFailure(found.label, found.url, result))
            continue
        if isinstance(result, BaseException):
            raise result
        for database in sorted(result):
            problem = check_name(found.name_prefix + database, found.label)
            if problem:
                problems.append(problem)
                continue
            targets.append(target_for_database(found, database))
    problems.extend(duplicate_names([target.name for target in targets]))
    if problems:
        raise UsageError(
            f"targets of {targets_file.path} cannot be used",
            problems=problems,
            hint="give discovered databases a name-prefix, or rename the targets",
        )
    return targets, failures


def failure_error(failure: DiscoverFailure) -> MigratorError:
    """The error to report for a failed discover entry, naming it."""
    error = failure.error
    if isinstance(error, ConnectionFailed):
        return ConnectionFailed(f"{failure.label}: {error.message}", hint=error.hint)
    return error


def discover_labels(failures: Sequence[DiscoverFailure]) -> list[str]:
    return [failure.label for failure in failures]
