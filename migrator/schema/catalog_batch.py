"""Read the catalog in one round trip instead of one per query.

:func:`migrator.schema.introspect` asks about twenty catalog queries per schema read,
each a round trip to the server; a rehearsal reads the schema three or four times per
migration. Here those queries are learnt by running the reader once against a
recorder (every query answered with no rows), then sent as one statement whose columns
are the queries' results as JSON arrays, and the reader is run again against the
answers. The reader's code stays the one source of what is read; a test compares the
batched read with the query-by-query one on real databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

_PARAMETER = re.compile(r"\$(\d+)\b")
T = TypeVar("T")

#: a reader of the catalog: ``read(connection)`` with ``connection.fetch`` and
#: ``connection.fetchval`` as asyncpg's
Reader = Callable[[Any], Awaitable[T]]


class _StandIn:
    """What the reader uses of a connection besides ``fetch``, passed to the real one."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.connection.fetchval(query, *args)

    def get_server_version(self) -> Any:
        return self.connection.get_server_version()


class _Recorder(_StandIn):
    """Answers every ``fetch`` with no rows, noting the query and its arguments; the
    queries whose rows the reader needs to know what to ask next are answered for
    real (``answered``)."""

    def __init__(self, connection: Any, answered: Sequence[str]) -> None:
        super().__init__(connection)
        self.answered = set(answered)
        self.asked: list[tuple[str, tuple[Any, ...]]] = []
        #: the rows of the queries answered for real, for the replay
        self.known: dict[tuple[str, str], list[Any]] = {}

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        if query in self.answered:
            rows: list[Any] = await self.connection.fetch(query, *args)
            self.known[(query, repr(args))] = rows
            return rows
        self.asked.append((query, args))
        return []


class _Replay(_StandIn):
    """Answers each ``fetch`` from the batch's results, in the order they were asked."""

    def __init__(self, connection: Any, answers: dict[tuple[str, str], list[Any]]) -> None:
        super().__init__(connection)
        self.answers = answers

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        key = (query, repr(args))
        if key in self.answers:
            return self.answers[key]
        rows: list[Any] = await self.connection.fetch(query, *args)  # not in the batch
        return rows


def _renumber(query: str, offset: int) -> str:
    """``query`` with ``$n`` made ``$(n + offset)``."""
    return _PARAMETER.sub(lambda match: f"${int(match.group(1)) + offset}", query)


def _batch_statement(asked: Sequence[tuple[str, tuple[Any, ...]]]) -> tuple[str, list[Any]]:
    """One ``SELECT`` whose column ``i`` is query ``i``'s rows as a JSON array; each
    query's ``$n`` renumbered into the statement's parameters."""
    columns: list[str] = []
    parameters: list[Any] = []
    for index, (query, args) in enumerate(asked):
        offset = len(parameters)
        parameters.extend(args)
        renumbered = _renumber(query, offset)
        columns.append(
            f"(SELECT coalesce(json_agg(q), '[]') FROM ({renumbered}) AS q)::text AS r{index}"
        )
    return "SELECT " + ",\n".join(columns), parameters


async def read_batched(connection: Any, read: Reader[T], answered: Sequence[str] = ()) -> T:
    """``read(connection)`` with its catalog queries sent in one statement. Queries in
    ``answered`` are asked on their own first (the reader needs their rows to know
    what else to ask: the excluded relations)."""
    recorder = _Recorder(connection, answered)
    await read(recorder)
    if not recorder.asked:
        return await read(connection)
    statement, parameters = _batch_statement(recorder.asked)
    row = await connection.fetchrow(statement, *parameters)
    answers = {
        (query, repr(args)): json.loads(row[index])
        for index, (query, args) in enumerate(recorder.asked)
    }
    return await read(_Replay(connection, {**recorder.known, **answers}))
