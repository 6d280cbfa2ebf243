"""Which targets this run takes: ``--shard i/n`` and ``--canary N``.

A shard is chosen by a hash of the target's name, not by its position, so several CI
jobs or machines that each run ``--shard i/n`` of the same file cover every target
exactly once without talking to each other, and a target added to the file (or
discovered later) does not move the others between shards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from migrator.errors import UsageError
from migrator.fleet.targets import Target

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, name: str) -> bool:
        digest = hashlib.sha256(name.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> ``Shard(2, 4)``; anything else is a usage error."""
    match = _SHARD.match(text)
    if not match:
        raise UsageError(
            f"invalid --shard {text!r}", hint="write i/n with 1 <= i <= n, e.g. --shard 2/4"
        )
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise UsageError(
            f"invalid --shard {text!r}: i must be between 1 and n", hint="e.g. --shard 1/4"
        )
    return Shard(index, count)


def in_shard(targets: Sequence[Target], shard: Shard | None) -> list[Target]:
    """The targets of ``shard``, in their order (all of them without a shard)."""
    if shard is None:
        return list(targets)
    return [target for target in targets if shard.takes(target.name)]
