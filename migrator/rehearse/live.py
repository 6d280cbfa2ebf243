"""A rehearsal reported as it goes: each migration's lines as soon as it is done, and,
on a terminal, a status line saying which migration is being rehearsed.

A CI log (a pipe) gets the same lines at the same moments as a terminal, flushed one
by one, so a long dry-run never looks hung; only the status line is terminal-only.
"""

from __future__ import annotations

import shutil
from typing import TextIO

from migrator.rehearse.render import migration_line, text_header, text_migration
from migrator.rehearse.report import LintSummary, MigrationRehearsal
from migrator.source.model import Migration

#: moves to the start of the line and erases it (ANSI: CR, erase in line)
_ERASE_LINE = "\r\x1b[K"


class LiveReport:
    """A :class:`~migrator.rehearse.engine.RehearsalListener` that writes to streams.

    ``lines`` receives, as the rehearsal goes, the text report's header and, per
    migration, either its full block (``detailed``: the text report itself, whose
    summary line the caller writes at the end) or its one-line result (when the report
    goes elsewhere: a file, JSON, markdown). ``status``, when it is a terminal, shows
    ``[3/200] rehearsing 003_name`` while a migration runs, cut to the terminal's width.
    """

    def __init__(
        self,
        lines: TextIO,
        *,
        detailed: bool,
        status: TextIO | None = None,
        schema_file: str | None = None,
        seed_rows: int = 0,
    ) -> None:
        self._lines = lines
        self._detailed = detailed
        self._status = status if status is not None and _is_terminal(status) else None
        self._schema_file = schema_file
        self._seed_rows = seed_rows
        self._status_shown = False

    def linted(self, lint: LintSummary) -> None:
        self._write(text_header(lint, self._schema_file, self._seed_rows))

    def starting(self, migration: Migration, position: int, total: int) -> None:
        if self._status is None:
            return
        width = max(shutil.get_terminal_size().columns - 1, 10)
        text = f"[{position}/{total}] rehearsing {migration.label}"
        self._status.write(_ERASE_LINE + text[:width])
        self._status.flush()
        self._status_shown = True

    def finished(self, result: MigrationRehearsal) -> None:
        self._write(text_migration(result) if self._detailed else [migration_line(result)])

    def close(self) -> None:
        """Erase the status line (the rehearsal is over, or was interrupted)."""
        self._erase_status()

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        self._erase_status()
        self._lines.write("".join(line + "\n" for line in lines))
        self._lines.flush()

    def _erase_status(self) -> None:
        if self._status is not None and self._status_shown:
            self._status.write(_ERASE_LINE)
            self._status.flush()
            self._status_shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
