"""Running one piece of a lint run in a forked child process, alongside the parent.

Linting a large directory is sequential (each file is judged against the schema the
files before it built), but a child can replay the first part of the directory
without linting it (cheaper) and lint the rest while the parent lints the first part.
The child is a ``fork`` of the parent (it inherits the loaded modules and the parsed
state, so it starts in milliseconds); its result comes back pickled through a pipe.
Any failure in the child (or no ``fork`` on this platform) gives ``None``: the caller
then does that part itself, so the output never depends on whether this worked.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")

#: the machine has a second core to run the child on
AVAILABLE = hasattr(os, "fork") and (os.cpu_count() or 1) > 1


class Forked(Generic[_T]):
    """A child process computing ``work()``; :meth:`result` waits for it."""

    def __init__(self, work: Callable[[], _T]) -> None:
        self._pid = 0
        self._reader = -1
        if not AVAILABLE:
            return
        import pickle  # before the fork (the child has it), and only when one is started

        reader, writer = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(reader)
            os.close(writer)
            return
        if pid == 0:  # the child: compute, send, and leave without running any cleanup
            os.close(reader)
            status = 0
            try:
                payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(writer, "wb") as stream:
                    stream.write(payload)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(writer)
        self._pid, self._reader = pid, reader

    @property
    def pid(self) -> int:
        """The child's process id; 0 when none is running (or it was waited for)."""
        return self._pid

    def cancel(self) -> None:
        """Stop the child and forget its result (the parent is leaving early)."""
        if not self._pid:
            return
        os.close(self._reader)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        self._pid = 0

    def result(self) -> _T | None:
        """The child's ``work()``, or ``None`` if it could not run or failed."""
        if not self._pid:
            return None
        with os.fdopen(self._reader, "rb") as stream:
            payload = stream.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if os.waitstatus_to_exitcode(status) != 0 or not payload:
            return None
        import pickle

        try:
            value: _T = pickle.loads(payload)
        except Exception:  # a truncated payload: do the work in the parent instead
            return None
        return value
