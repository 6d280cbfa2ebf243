"""``asyncio.run`` for the command line, without a hidden cost at exit.

When ``asyncio.run`` returns it restores the previous ``SIGINT`` handler, and the
standard library's ``signal.signal`` then tries to turn the handler it replaced (a
``functools.partial`` holding the finished main task) into a ``signal.Handlers`` member:
the failed lookup formats ``repr()`` of that task, and so of its result. For ``migrate
up`` at 1,000 migrations the result's repr walks every migration, file and statement:
50 to 80 ms spent on a message nobody reads. :func:`run` keeps the result out of the
task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)``, returning its result."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coroutine)

    asyncio.run(main())
    return box[0]
