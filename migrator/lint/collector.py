"""Pausing Python's cyclic garbage collector while a lint run builds its trees.

Linting decodes hundreds of thousands of small dicts and lists (parse trees) and
builds catalog values, almost none of them in reference cycles; each allocation
burst triggers generation-0 collections that walk the young objects again and
again (a third of the run's time on a large file). Reference counting still frees
everything as usual; only the cycle detector waits until the run is over.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """Run the body with the cycle collector off (restored afterwards, also on error;
    left off if the caller had turned it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
