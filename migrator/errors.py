"""One exception hierarchy, mapped to exit codes in one place.

Every error a user can cause is a :class:`MigratorError` carrying one line that says
what failed, where, and what to do. The CLI prints that line (never a traceback,
unless ``--verbose``) and exits with the error's :class:`ExitCode`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ExitCode(enum.IntEnum):
    """Documented process exit codes (docs/runner.md, "Exit codes")."""

    OK = 0
    #: lint findings at error level, failed checks (verify, dry-run), drift.
    FINDINGS = 1
    #: bad flags, bad configuration, a migration directory or file that cannot be used.
    USAGE = 2
    #: cannot connect to PostgreSQL, or the migration lock could not be taken in time.
    CONNECTION = 3
    #: a migration failed (SQL error, lock timeout after every retry, refused state).
    MIGRATION_FAILED = 4
    #: a bug in migrate: an exception nobody expected (sysexits' EX_SOFTWARE).
    INTERNAL = 70
    #: interrupted (Ctrl-C / SIGTERM).
    INTERRUPTED = 130


class MigratorError(Exception):
    """Base of every error shown to the user as one line.

    An error behind several ``problems`` is ``message: p1; p2`` as one line, and on the
    terminal the message, then one problem per line (:meth:`lines`)."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self, message: str, *, hint: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        self.problems = list(problems)
        self.heading = message
        if self.problems:
            message = f"{message}: " + "; ".join(self.problems)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and, if any, what to do, as one line."""
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message

    def lines(self) -> list[str]:
        """What the CLI prints after ``error:``: the one line, unless the error lists
        several problems, which read better one per line."""
        if len(self.problems) < 2:
            return [self.one_line()]
        listed = [f"{self.heading}:", *(f"  {problem}" for problem in self.problems)]
        return [*listed, f"({self.hint})"] if self.hint else listed


class UsageError(MigratorError):
    """Bad flags or configuration."""

    exit_code = ExitCode.USAGE


class SourceError(MigratorError):
    """The migration directory or a migration file cannot be used.

    ``problems`` holds every problem found (discovery reports them all at once).
    """

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str], *, hint: str | None = None) -> None:
        if len(problems) == 1:
            super().__init__(problems[0], hint=hint)
            self.problems = list(problems)
        else:
            heading = f"{len(problems)} problems in the migrations"
            super().__init__(heading, hint=hint, problems=problems)


class ConnectionFailed(MigratorError):
    """PostgreSQL could not be reached or refused us."""

    exit_code = ExitCode.CONNECTION


class LockNotAcquired(MigratorError):
    """Another runner held the migration lock for longer than the configured wait."""

    exit_code = ExitCode.CONNECTION


class LockLost(MigratorError):
    """The session holding the migration lock ended while the run was under way."""

    exit_code = ExitCode.CONNECTION


class LedgerConflict(MigratorError):
    """The ledger already records what this run was about to record (another runner)."""

    exit_code = ExitCode.CONNECTION


class MigrationFailed(MigratorError):
    """A migration could not be applied or reverted; the ledger says what happened."""

    exit_code = ExitCode.MIGRATION_FAILED


class RefusedState(MigratorError):
    """The ledger is in a state the command will not proceed from (failed run, drift)."""

    exit_code = ExitCode.MIGRATION_FAILED


class ChecksFailed(MigratorError):
    """A check command (verify, dry-run, lint) found problems; details were printed."""

    exit_code = ExitCode.FINDINGS


class ServerUnavailable(MigratorError):
    """The ephemeral PostgreSQL could not be started (binaries missing, initdb failed)."""

    exit_code = ExitCode.CONNECTION
