"""The one replay: statements of migration files, in order, into a
:class:`~migrator.sql.catalog.Catalog`, with the transactions the runner would run them
in. Lint, plan and rehearse (through lint) all build their schema here, so the linter
and the planner cannot disagree about what earlier migrations built.

- :meth:`Replay.file` replays a whole file that nobody inspects (an earlier migration);
- :meth:`Replay.begin_file` and :meth:`Replay.apply` replay statement by statement, for
  a caller that looks at each statement before it is applied (the linter's rules, the
  planner's recipes).

An ``observe`` callback sees each statement just before the catalog applies it, with the
catalog as it was (the planner keeps what depends on which columns that way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from migrator.sql.catalog import Catalog
from migrator.sql.parse import Node
from migrator.sql.replay import may_select_into
from migrator.sql.split import Statement

#: sees ``(kind, fields, catalog)`` of each statement before the catalog applies it
Observer = Callable[[str, Node, Catalog], None]

_BEGINS = frozenset({"TRANS_STMT_BEGIN", "TRANS_STMT_START"})
_ENDS = frozenset(
    {
        "TRANS_STMT_COMMIT",
        "TRANS_STMT_ROLLBACK",
        "TRANS_STMT_COMMIT_PREPARED",
        "TRANS_STMT_ROLLBACK_PREPARED",
        "TRANS_STMT_PREPARE",
    }
)

#: the first words of the statements that can change the catalog model or end a
#: transaction (besides ``SELECT ... INTO``)
_SCHEMA_VERBS = (
    "create",
    "alter",
    "drop",
    "set",
    "reset",
    "comm",
    "end",
    "begin",
    "start",
    "rollb",
    "abort",
    "do",
)


def may_change_schema(text: str) -> bool:
    """Cheap pre-filter: only statements starting with these verbs can change the
    catalog model (or end a transaction), and ``SELECT ... INTO``."""
    head = text[:8].lower()
    return head.startswith(_SCHEMA_VERBS) or (head.startswith("select") and may_select_into(text))


class Replay:
    """Replays files into ``catalog``, one after the other."""

    def __init__(self, catalog: Catalog, observe: Observer | None = None) -> None:
        self.catalog = catalog
        self.observe = observe
        #: the file runs in a transaction (the runner's, unless it says otherwise)
        self.transactional = True
        #: inside an explicit ``BEGIN`` of a file that runs outside a transaction
        self.explicit = False

    @property
    def in_transaction(self) -> bool:
        return self.transactional or self.explicit

    def begin_file(
        self, unit: str, *, transactional: bool = True, also_new: Iterable[str] = ()
    ) -> None:
        """Start replaying the file ``unit``: what it creates counts as new (and what
        the units ``also_new`` created)."""
        self.catalog.begin_file(unit, also_new)
        self.transactional = transactional
        self.explicit = False

    def apply(self, kind: str, fields: Node) -> bool:
        """Replay one statement of the current file; whether the statements after it
        run in a new transaction (it ended one, or none is open)."""
        if self.observe is not None:
            self.observe(kind, fields, self.catalog)
        self.catalog.apply(kind, fields)
        if kind == "TransactionStmt":
            transaction = str(fields.get("kind", ""))
            if transaction in _BEGINS and not self.transactional:
                self.explicit = True
                return False
            if transaction in _ENDS:
                self.explicit = False
                self.catalog.begin_transaction()
                return True
        if self.transactional or self.explicit:  # in_transaction, without the call
            return False
        self.catalog.begin_transaction()
        return True

    def statement(self, statement: Statement) -> None:
        """Replay ``statement`` (its tree from the statement model: parsed once)."""
        parsed = statement.parsed
        if parsed is not None:
            self.apply(parsed.kind, parsed.fields)

    def file(
        self,
        statements: Sequence[Statement],
        unit: str,
        *,
        transactional: bool = True,
        also_new: Iterable[str] = (),
    ) -> None:
        """Replay a whole file. Statements that cannot change the schema are skipped
        unparsed; a view's query is decoded only for an observer."""
        self.begin_file(unit, transactional=transactional, also_new=also_new)
        view_query = self.observe is not None
        for statement in statements:
            if not may_change_schema(statement.text):
                continue
            tree = statement.kind_and_fields(view_query=view_query)
            if tree is not None:
                self.apply(*tree)
