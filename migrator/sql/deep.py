"""Decoding parse trees as deep as PostgreSQL accepts.

PostgreSQL accepts expressions nested far deeper than Python's default recursion
limit lets ``json`` decode (``abs(`` 400 deep, ``(1+`` 900 deep): its own limit is
``max_stack_depth``, 2 MB of C stack by default. A tree that is too deep for the
default limit is decoded again in a worker thread with a large stack and a raised
recursion limit, so every command sees the same tree PostgreSQL saw.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: the worker's stack and recursion limit: room for trees far deeper than what
#: PostgreSQL's default max_stack_depth (2 MB) accepts
_STACK_BYTES = 512 * 1024 * 1024
_RECURSION_LIMIT = 200_000
_lock = threading.Lock()
_DECODER = json.JSONDecoder()


def deeply(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``; if it runs out of recursion depth, once more in a thread
    with a large stack and a high recursion limit."""
    try:
        return function(*args)
    except RecursionError:
        pass
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))

    with _lock:  # the stack size and the recursion limit are process-wide
        old_stack = threading.stack_size(_STACK_BYTES)
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(_RECURSION_LIMIT)
        try:
            worker = threading.Thread(target=work, name="migrator-deep-tree")
            worker.start()
            worker.join()
        finally:
            sys.setrecursionlimit(old_limit)
            threading.stack_size(old_stack)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def loads(text: str) -> Any:
    """:func:`json.loads`, however deep the tree."""
    return deeply(json.loads, text)


def raw_decode(text: str, offset: int) -> tuple[Any, int]:
    """:meth:`json.JSONDecoder.raw_decode`, however deep the tree."""
    return deeply(_DECODER.raw_decode, text, offset)
