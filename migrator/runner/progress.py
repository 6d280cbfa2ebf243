"""What an unfinished no-transaction run completed, and whether the file still says so.

Each completed step (:class:`~migrator.db.records.ProgressStep`: a statement, or a
segment of statements that committed together) is recorded in the ledger with a
fingerprint of each of its statements. ``--resume`` continues only when the file's
statements up to the resume point are, one by one, those that ran; otherwise it
refuses and names ``migrate repair`` (resuming by a count alone would skip a statement
inserted before the failure and run a completed one again). Pure: no database here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from migrator.db.records import LedgerEntry, ProgressStep
from migrator.sql.split import Statement
from migrator.sql.tokens import normalized

#: hex digits of a statement's fingerprint (64 bits)
FINGERPRINT_LENGTH = 16


def fingerprint(text: str) -> str:
    """A short hash of a statement's :func:`~migrator.sql.tokens.normalized` text."""
    return hashlib.sha256(normalized(text).encode()).hexdigest()[:FINGERPRINT_LENGTH]


def step_of(statements: Sequence[Statement]) -> ProgressStep:
    """The progress step made of ``statements`` (consecutive, in file order)."""
    return ProgressStep(statements[0].index, tuple(fingerprint(s.text) for s in statements))


def changed_since_stop(
    entry: LedgerEntry, statements: Sequence[Statement], *, checksum: str | None = None
) -> str | None:
    """Why the file (``statements``, its checksum ``checksum``) no longer matches what
    the unfinished run ``entry`` completed, as a phrase; ``None`` when it does. Without
    recorded steps (an older ledger row), only an unchanged file (``checksum`` equal to
    the row's) counts as matching."""
    done = entry.statements_done
    steps = entry.steps
    if not steps and done == 0:
        return None
    if steps is None or (steps[0].first if steps else 0) != 0:
        recorded = entry.up_checksum if entry.direction == "up" else entry.down_checksum
        if checksum is not None and recorded == checksum:
            return None
        return (
            "the file changed since the run stopped, and the ledger row keeps no record "
            "of which statements ran"
        )
    expected = 0
    for step in steps:
        if step.first != expected:
            return f"the ledger's record of statement {expected + 1} is missing"
        expected = step.end
    if expected != done:
        return f"the ledger records {expected} completed statement(s) but counts {done}"
    for step in steps:
        for offset, recorded_print in enumerate(step.fingerprints):
            position = step.first + offset
            if position >= len(statements):
                return f"{done} statement(s) had completed but the file now has {len(statements)}"
            statement = statements[position]
            if fingerprint(statement.text) != recorded_print:
                return (
                    f"statement {position + 1} (line {statement.line}) is not the one that "
                    "ran: a statement was inserted, removed or edited before the point "
                    "where the run stopped"
                )
    return None
