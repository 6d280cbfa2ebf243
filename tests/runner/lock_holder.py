"""Another session that holds locks until the backfill under test reports a retry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg


@dataclass
class RetryLog:
    """An ``on_retry`` callback that keeps each retry's reason."""

    reasons: list[str] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, attempt: int, delay_ms: int, reason: str) -> None:
        self.reasons.append(reason)
        self.first.set()


@contextlib.asynccontextmanager
async def held_until_first_retry(dsn: str, sql: str) -> AsyncIterator[RetryLog]:
    """Run ``sql`` in a transaction of another session and keep its locks until the
    yielded log hears of a retry (or, if none comes, for 20 s: the test then fails on
    what it expected)."""
    holder = await asyncpg.connect(dsn)
    log = RetryLog()
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(sql)

        async def release() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(log.first.wait(), 20)
            await transaction.rollback()

        releaser = asyncio.create_task(release())
        yield log
        await releaser
    finally:
        await holder.close()
