"""CPU time the PostgreSQL server spent on a command's behalf (Linux ``/proc``).

A client's work is only half of a migration tool's cost: the statements it sends, its
ledger writes and its session handling cost the server CPU too, and on a machine where
client and server share the cores that is wall time. The server's CPU time is the
postmaster's own, plus what its children used: the reaped ones (backends that ended,
counted in the postmaster's ``cutime``/``cstime``) and the live ones (the background
processes). Measured around a command after the backends of earlier commands are gone
and until the command's own backends are reaped, so each command is charged for its own
sessions only (autovacuum, if it runs meanwhile, is charged to whoever it overlaps).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: how long to wait for a client's backends to end once the client exited (seconds)
_SETTLE_S = 5.0
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    return text.rsplit(")", 1)[1].split()


def _children(postmaster: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[1]) == postmaster:
            found.append(int(entry.name))
    return found


class ServerCpu:
    """The CPU clock of one running server, by its postmaster's pid."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster
        #: the server's own processes (checkpointer, walwriter, ...): present when idle
        self.background = frozenset(_children(postmaster))

    def available(self) -> bool:
        return _stat_fields(self.postmaster) is not None

    def settle(self) -> None:
        """Wait (up to a few seconds) until no session of a client is left."""
        deadline = time.monotonic() + _SETTLE_S
        while time.monotonic() < deadline:
            if set(_children(self.postmaster)) <= self.background:
                return
            time.sleep(0.005)

    def seconds(self) -> float:
        """The server's CPU time so far (user + system), after :meth:`settle`."""
        fields = _stat_fields(self.postmaster)
        if fields is None:
            return 0.0
        # utime, stime, cutime, cstime: fields 14-17 of stat (index 11-14 here)
        ticks = sum(int(value) for value in fields[11:15])
        for child in _children(self.postmaster):
            child_fields = _stat_fields(child)
            if child_fields is not None:
                ticks += int(child_fields[11]) + int(child_fields[12])
        return ticks / _TICKS
