"""Where a file that runs in transactions commits: its transaction control and segments.

A migration without ``-- migrate:no-transaction`` runs in the runner's transaction.
Files written for other tools often carry their own transaction control, which means
what it meant there:

- a file wrapped in one ``BEGIN; ... COMMIT;`` (or ``START TRANSACTION`` / ``END``)
  is one transaction: the wrapper becomes the runner's own transaction, with the
  ``BEGIN``'s modes (``ISOLATION LEVEL SERIALIZABLE``, ``READ ONLY``) as its
  ``SET TRANSACTION``;
- ``COMMIT``, ``COMMIT AND CHAIN`` or ``END`` between statements are *commit points*:
  the file runs as *segments*, each in a transaction of its own, committed where the
  file commits (sourcegraph's migrations use ``COMMIT AND CHAIN`` to release each
  table's lock before taking the next). A ``BEGIN`` only opens a segment; what stands
  between a ``COMMIT`` and the next ``BEGIN`` belongs to the segment that ``BEGIN``
  continues, as in PostgreSQL, where ``BEGIN`` inside an implicit block extends it.

``ROLLBACK`` and the two-phase commands stay refused: a migration cannot throw its own
work away and still be recorded as applied.

Everything here is computed from the parsed statements: no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from migrator.sql import classify
from migrator.sql.split import Statement
from migrator.sql.statement_source import of_kinds, statement_range

ControlKind = Literal["begin", "commit", "refused"]

#: transaction control a migration that runs in transactions cannot hold
_REFUSED = {
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}


@dataclass(frozen=True)
class TransactionControl:
    """A statement of the file that begins, commits or rolls back a transaction."""

    statement: Statement
    kind: ControlKind
    #: as written: ``BEGIN``, ``START TRANSACTION``, ``COMMIT``, ``END``,
    #: ``COMMIT AND CHAIN``, ``ROLLBACK``, ...
    keyword: str
    #: a ``BEGIN``'s transaction modes (``ISOLATION LEVEL SERIALIZABLE``), if any
    modes: str | None = None


@dataclass(frozen=True)
class Segment:
    """Statements that commit together, without the file's own BEGIN / COMMIT."""

    #: 1-based
    number: int
    #: a tuple, or for a large file a range walked from disk (never held)
    statements: Sequence[Statement]
    #: the file's statement that commits this segment (``None``: the runner commits it)
    commit: TransactionControl | None
    #: index (in the file's statements) of the first statement after this segment and
    #: its commit: the file's progress once the segment committed
    end: int
    #: index of the segment's first statement in the file (``end`` when it has none)
    start: int = -1

    def __post_init__(self) -> None:
        if self.start < 0:
            start = self.statements[0].index if self.statements else self.end
            object.__setattr__(self, "start", start)


def transaction_control(statement: Statement) -> TransactionControl | None:
    """What ``statement`` does to the transaction, when it is transaction control
    (savepoints are not: they work inside any transaction)."""
    tree = statement.tree
    if tree is not None and tree.kind != "TransactionStmt":
        return None
    parsed = classify.statement_node(statement.text)
    if parsed is None or parsed[0] != "TransactionStmt":
        return None
    fields = parsed[1]
    kind = str(fields.get("kind", ""))
    first = statement.text.split(None, 1)[0].upper().rstrip(";")
    if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
        keyword = "BEGIN" if first == "BEGIN" else "START TRANSACTION"
        return TransactionControl(statement, "begin", keyword, classify.transaction_modes(fields))
    if kind == "TRANS_STMT_COMMIT":
        keyword = "END" if first == "END" else "COMMIT"
        if fields.get("chain"):
            keyword += " AND CHAIN"
        return TransactionControl(statement, "commit", keyword)
    if kind in _REFUSED:
        return TransactionControl(statement, "refused", _REFUSED[kind])
    return None  # SAVEPOINT, RELEASE, ROLLBACK TO


def transaction_controls(statements: Sequence[Statement]) -> tuple[TransactionControl, ...]:
    """Every transaction-control statement, in file order."""
    found = (transaction_control(s) for s in of_kinds(statements, ("TransactionStmt",)))
    return tuple(control for control in found if control is not None)


def cut_segments(statements: Sequence[Statement]) -> tuple[Segment, ...]:
    """The file cut at its commit points; a segment that would hold no statement (a
    wrapper's ``COMMIT`` at the end, two commits in a row) is left out. A file
    without commit points is one segment; an empty file is none. Each segment is a
    range of ``statements`` without the ``BEGIN``s (a view of a large file's, held by
    none)."""
    controls = sorted(
        (control.statement.index, control) for control in transaction_controls(statements)
    )
    found: list[Segment] = []
    first = 0  # the index where the current segment's statements start
    begins: set[int] = set()  # its BEGINs (the runner's transaction stands for them)
    #: its BEGINs with modes: sent as SET TRANSACTION (the runner's transaction takes them)
    modes: dict[int, Statement] = {}

    def cut(stop: int, commit: TransactionControl | None, end: int) -> None:
        sent = next((i for i in range(first, stop) if i not in begins), None)
        if sent is not None:
            part = statement_range(statements, first, stop, frozenset(begins), dict(modes))
            found.append(Segment(len(found) + 1, part, commit, end, sent))

    for index, control in controls:
        if control.kind == "begin" and control.modes is None:
            begins.add(index)
        elif control.kind == "begin":
            text = f"SET TRANSACTION {control.modes}"
            modes[index] = replace(control.statement, text=text, tree=None)
        elif control.kind == "commit":
            cut(index, control, index + 1)
            first, begins, modes = index + 1, set(), {}
    cut(len(statements), None, len(statements))
    return tuple(found)


#: words one of which a statement PostgreSQL refuses in a transaction block contains
_NEVER_IN_TRANSACTION_WORDS = (
    "concurrently",
    "vacuum",
    "database",
    "tablespace",
    "system",
    "subscription",
    "cluster",
    "reindex",
)


def runs_alone_outside_a_transaction(text: str, statements: Sequence[Statement]) -> bool:
    """A file whose only statement PostgreSQL refuses inside a transaction block
    (``CREATE INDEX CONCURRENTLY``, ``VACUUM``, ...): golang-migrate, dbmate and psql
    send such a file as one statement outside any transaction, and so do we. ``text``
    is checked for the words first, so most files are not parsed for this (and only a
    file of one statement is lowered: a large file's text is not copied for nothing)."""
    if len(statements) != 1:
        return False
    lowered = text.lower()
    if not any(word in lowered for word in _NEVER_IN_TRANSACTION_WORDS):
        return False
    return classify.non_transactional_reason(statements[0].text) is not None
