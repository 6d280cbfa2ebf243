"""What a rule sees: one statement, the catalog as it stood before it, and the file's
transaction state (which transaction we are in, what it has locked so far)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrator.lint.options import LintOptions
from migrator.sql.catalog import Catalog, Column, Table
from migrator.sql.locks import Lock
from migrator.sql.names import QualifiedName
from migrator.sql.parse import Node, ParsedStatement
from migrator.sql.split import Statement
from migrator.sql.tree import alter_commands

if TYPE_CHECKING:
    from migrator.lint.live import LiveFacts
    from migrator.lint.rule import Hit
    from migrator.source.model import MigrationFile


#: where an object the replayed migrations never created came from
UNKNOWN_ORIGIN = (
    "it predates the first migration or came from a DO block, dynamic SQL or an extension"
)


def unknown_note(what: str, name: object, judged: str) -> str:
    """What a finding adds when its rule judged an object the replay does not know."""
    return f"{what} {name} is not in the replayed schema: {UNKNOWN_ORIGIN}; judged as {judged}"


@dataclass
class FileState:
    """Transaction state of the file being linted, updated after each statement."""

    #: the runner wraps the file in one transaction
    transactional: bool
    #: inside an explicit BEGIN ... COMMIT (in a non-transactional file)
    explicit_transaction: bool = False
    #: a lock_timeout is in force (directive, runner default, or SET lock_timeout)
    lock_timeout: bool = False
    #: missing-lock-timeout already reported for this file
    lock_timeout_reported: bool = False
    #: the file set the session's TimeZone to UTC (or another zone of offset 0)
    utc_time_zone: bool = False
    #: tables locked ACCESS EXCLUSIVE in the current transaction: name -> (statement
    #: line, how: '' or a note such as 'by DROP TABLE t, which references it')
    access_exclusive: dict[QualifiedName, tuple[int, str]] = field(default_factory=dict)
    #: tables whose writers wait for a lock the current transaction holds (SHARE or
    #: stronger): name -> (statement line, lock level)
    write_locked: dict[QualifiedName, tuple[int, Lock]] = field(default_factory=dict)
    #: tables the current transaction emptied (``TRUNCATE``, ``DELETE`` without WHERE)
    emptied: set[QualifiedName] = field(default_factory=set)
    #: statements-after-access-exclusive already reported in the current transaction
    after_access_exclusive_reported: bool = False
    #: constraints added NOT VALID in the current transaction: (table, constraint)
    not_valid_added: set[tuple[QualifiedName, str]] = field(default_factory=set)
    #: enum values added in the current transaction
    enum_values_added: set[str] = field(default_factory=set)
    #: those of them added to a type the replay does not know: value -> type name
    unknown_enum_values: dict[str, QualifiedName] = field(default_factory=dict)
    #: a down file linted without its up in reach: a table the replay does not know
    #: is one its up created (what a down reverts counts as new), not an old one
    unknown_tables_new: bool = False
    #: what the settings changed by ``SET LOCAL`` in an explicit transaction return to
    #: when it ends: attribute name -> session value
    session_values: dict[str, bool] = field(default_factory=dict)
    #: checks to run once the whole file is replayed: (statement index, rule id, check,
    #: the notes on unknown objects its rule made at the statement)
    deferred: list[tuple[int, str, Callable[[Catalog], Iterable[Hit]], list[str]]] = field(
        default_factory=list
    )

    @property
    def in_transaction(self) -> bool:
        return self.transactional or self.explicit_transaction

    def set_value(self, attribute: str, value: bool, *, local: bool) -> None:
        """``SET [LOCAL]`` of the setting behind ``attribute`` (``lock_timeout``,
        ``utc_time_zone``) ran in this file. A ``SET LOCAL`` inside an explicit
        transaction lasts until it ends (:meth:`end_explicit_transaction`); a plain
        ``SET`` changes the session's value too."""
        if local and self.explicit_transaction:
            self.session_values.setdefault(attribute, getattr(self, attribute))
        elif attribute in self.session_values:
            self.session_values[attribute] = value
        setattr(self, attribute, value)

    def end_explicit_transaction(self) -> None:
        """``COMMIT`` / ``ROLLBACK``: what ``SET LOCAL`` changed returns to the session's
        value."""
        self.explicit_transaction = False
        for attribute, value in self.session_values.items():
            setattr(self, attribute, value)
        self.session_values.clear()

    def new_transaction(self) -> None:
        self.access_exclusive.clear()
        self.write_locked.clear()
        self.emptied.clear()
        self.after_access_exclusive_reported = False
        self.not_valid_added.clear()
        self.enum_values_added.clear()
        self.unknown_enum_values.clear()


@dataclass
class StatementContext:
    """One statement under lint."""

    kind: str
    fields: Node
    statement: Statement
    #: the schema before this statement
    catalog: Catalog
    state: FileState
    options: LintOptions
    file: MigrationFile
    facts: LiveFacts | None = None
    #: the statements after this one in the file (parsed; computed on call)
    later_statements: Callable[[], Sequence[ParsedStatement]] = field(default=lambda: ())
    #: this statement's position in the file
    position: int = 0
    #: values computed once per statement and shared by rules (see :meth:`memo`)
    _memo: dict[str, Any] = field(default_factory=dict)
    _altered: tuple[QualifiedName, Table | None] | None = field(default=None, repr=False)
    _commands: tuple[Node, ...] | None = field(default=None, repr=False)
    #: the subcommands of an existing altered table, and the noun of one judged existing
    #: without the replay knowing it (noted for every rule that asks)
    _on_existing: tuple[tuple[Node, ...], str | None] | None = field(default=None, repr=False)
    #: what the rule running now judged without the replay knowing it (one note per
    #: object, see :meth:`note_unknown`); the engine adds them to the rule's findings
    unknowns: list[str] = field(default_factory=list)

    def note_unknown(self, what: str, name: object, judged: str) -> None:
        """The rule judges ``what name`` (``"table public.t"``, ``"index i"``, ...),
        which the replayed migrations never created, as ``judged``: its findings say so."""
        note = unknown_note(what, name, judged)
        if note not in self.unknowns:
            self.unknowns.append(note)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per statement for all rules asking for ``key``."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def at_end_of_file(self, rule_id: str, check: Callable[[Catalog], Iterable[Hit]]) -> None:
        """Run ``check`` with the catalog as the whole file leaves it; its hits are
        reported at this statement."""
        self.state.deferred.append((self.position, rule_id, check, self.unknowns))

    @property
    def pg_version(self) -> int:
        return self.options.pg_version

    def relation(self, range_var: Node | None) -> tuple[QualifiedName, Table | None]:
        """The name a ``RangeVar`` resolves to and the table, if the replay knows it."""
        if range_var is not None and range_var is self.fields.get("relation"):
            return self.altered_table()
        return self.catalog.relation_of(range_var)

    def altered_table(self) -> tuple[QualifiedName, Table | None]:
        """The table an ``ALTER TABLE`` (or other statement with a ``relation``) targets
        (resolved once per statement: the catalog does not change while rules run)."""
        if self._altered is None:
            self._altered = self.catalog.relation_of(self.fields.get("relation"))
        return self._altered

    def alter_commands(self) -> tuple[Node, ...]:
        """The statement's ``ALTER TABLE`` subcommands (found once for all its rules)."""
        if self._commands is None:
            self._commands = tuple(alter_commands(self.fields))
        return self._commands

    def commands_on_existing(self, *subtypes: str) -> Sequence[Node]:
        """The ``ALTER TABLE`` subcommands of these subtypes (all if none given), when
        the altered table exists (holds data); none for a new table. Judged once per
        statement, as :meth:`is_existing` judges (an unknown table noted each time)."""
        if self._on_existing is None:
            _, table = self.altered_table()
            existing = self.may_be_existing(table)
            unknown = existing and (table is None or not table.origin.unit)
            self._on_existing = (
                self.alter_commands() if existing else (),
                _relation_noun(self.fields) if unknown else None,
            )
        commands, noun = self._on_existing
        if noun is not None:
            self.note_unknown(noun, self.altered_table()[0], f"an existing {noun}")
        if not commands or not subtypes:
            return commands
        return [command for command in commands if command.get("subtype") in subtypes]

    def is_existing(
        self, table: Table | None, name: QualifiedName | None = None, what: str = "table"
    ) -> bool:
        """The table holds data: created before this migration, or never created by the
        directory at all (it came from before the first migration; but for a down file
        linted without its up, from that up: see :attr:`FileState.unknown_tables_new`).
        A system catalog is no table of the application: the rules about existing
        tables leave it alone. Given the ``name`` looked up, an unknown table judged
        existing is noted (:meth:`note_unknown`)."""
        if table is None:
            if self.state.unknown_tables_new:
                return False
            if name is not None:
                self.note_unknown(what, name, f"an existing {what}")
            return True
        if table.system:
            return False
        if not table.origin.unit and name is not None:
            # known only from statements that changed it: never created by the replay
            self.note_unknown(what, name, f"an existing {what}")
        return not self.catalog.is_new(table)

    def may_be_existing(self, table: Table | None) -> bool:
        """What :meth:`is_existing` says of ``table``, without noting anything (the
        same tests, on the hot path of every rule there: kept inline)."""
        if table is None:
            return not self.state.unknown_tables_new
        return not table.system and not self.catalog.is_new(table)

    def holds_rows(self, table: Table | None, name: QualifiedName | None = None) -> bool:
        """The table may hold rows: an existing one, or one this migration created with
        ``CREATE TABLE ... AS`` from a query that reads tables."""
        return self.is_existing(table, name) or (table is not None and table.filled)

    def existing_relation(
        self, range_var: Node | None, what: str = "table"
    ) -> QualifiedName | None:
        """The name of the relation if it is an existing one, else ``None``."""
        name, table = self.relation(range_var)
        return name if self.is_existing(table, name, what) else None

    def column(self, table: Table | None, name: str, judged: str) -> Column | None:
        """Column ``name`` of ``table`` (``None`` if either is unknown). A column the
        replay does not know of a table it knows is noted as ``judged``: the table's
        columns came from something the replay cannot see (``CREATE TABLE ... AS``,
        ``LIKE``, a ``DO`` block), or the column from dynamic SQL or an extension."""
        if table is None:
            return None
        column = table.column(name)
        if column is None and not table.system and table.origin.unit:
            # (a table never created by the replay is noted as such: is_existing)
            if table.columns_known:
                self.note_unknown("column", f"{table.name}.{name}", judged)
            else:
                note = (
                    f"the columns of {table.name} are not in the replayed schema: "
                    "CREATE TABLE ... AS, LIKE, a view's query or a DO block made them, or "
                    f"the table predates the first migration; column {name} judged as {judged}"
                )
                if note not in self.unknowns:
                    self.unknowns.append(note)
        return column

    def row_facts(self, name: QualifiedName) -> tuple[str, ...]:
        """``("about N rows in public.t (estimate from the database)",)`` if known."""
        if self.facts is None:
            return ()
        rows = self.facts.row_estimate(name)
        if rows is None:
            return ()
        return (f"about {rows:,} rows in {name} (pg_class.reltuples, from the database)",)


#: statement kinds of views as the parse tree spells them (``objtype`` of an ALTER
#: VIEW, ``renameType``, ``objectType``, ``removeType``)
_VIEW_NOUNS = {"OBJECT_VIEW": "view", "OBJECT_MATVIEW": "materialized view"}


def _relation_noun(fields: Node) -> str:
    """What the statement calls its relation: ``view``, ``materialized view`` or
    ``table``."""
    for key in ("objtype", "renameType", "objectType", "removeType"):
        noun = _VIEW_NOUNS.get(str(fields.get(key, "")))
        if noun is not None:
            return noun
    return "table"
