"""The table a change is about, resolved against the schema facts, and the options
every recipe shares."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from migrator.plan.facts import SchemaFacts, TableFacts
from migrator.plan.model import CannotPlan
from migrator.plan.row_conditions import Condition, ConditionKind, RowChange
from migrator.plan.sql_text import qualified
from migrator.source.backfill import DEFAULT_BATCH_SIZE
from migrator.sql.names import QualifiedName
from migrator.sql.replay import default_name, free_name


@dataclass(frozen=True)
class PlanOptions:
    batch_size: int = DEFAULT_BATCH_SIZE
    pause_ms: int = 20


@dataclass(frozen=True)
class Target:
    """A table as the change names it (``schema`` as written, possibly ``None``)."""

    schema: str | None
    name: str
    facts: TableFacts | None
    #: where the names the plan makes up are claimed (``None``: not checked)
    schema_facts: SchemaFacts | None = None

    @property
    def sql(self) -> str:
        return qualified(self.schema, self.name)

    def qualify(self, name: str) -> str:
        """Another object (function, index) in the same schema as the table."""
        return qualified(self.schema, name)

    def refuse_taken_name(self, name: str, what: str) -> None:
        """:class:`CannotPlan` when ``name`` belongs to a constraint or index the change
        drops, which the plan keeps until the contract phase: the expand phase cannot
        create another ``what`` under that name."""
        if self.facts is not None and name in self.facts.deferred.names:
            raise CannotPlan(
                f"the {what} {qualified(None, name)} on {self.sql} takes the name of one "
                "the change drops, but the plan drops that one only in the contract phase, "
                "after the new one is built",
                hint=f"give the new {what} another name",
            )

    def default_name(
        self, columns: Iterable[str | None], suffix: str, *, relation: bool, constraint: bool
    ) -> str:
        """The name PostgreSQL gives an unnamed index or constraint of this table
        (:func:`migrator.sql.replay.free_name`: numbered on a clash with a relation of the
        schema, ``relation``, or a constraint of the table, ``constraint``, in the
        replayed schema); unnumbered for a table the replay does not know."""
        catalog = self.schema_facts.catalog if self.schema_facts is not None else None
        table = None
        if catalog is not None and self.facts is not None:
            table = catalog.table(QualifiedName(self.facts.schema, self.facts.name))
        if catalog is None or table is None:
            return default_name(self.name, columns, suffix)
        return free_name(catalog, table, columns, suffix, relation=relation, constraint=constraint)

    def claim(self, name: str, what: str) -> str:
        """``name`` for an object the plan makes up in the table's schema;
        :class:`CannotPlan` when the replayed schema or the plan has it already."""
        if self.schema_facts is not None and not self.schema_facts.claim_name(self.schema, name):
            raise CannotPlan(
                f"the plan would create the {what} {qualified(self.schema, name)}, but that "
                "name is taken (by an earlier migration, perhaps an earlier plan whose "
                "contract has not run, or by another step of this plan)",
                hint="run the earlier plan's contract first, or plan the statements in "
                "separate changes",
            )
        return name

    def refuse_dependents(self, column: str, what: str) -> None:
        """:class:`CannotPlan` when views, materialized views, policies, generated
        columns or triggers (``UPDATE OF``, ``WHEN``) depend on ``column``: the contract's
        ``DROP COLUMN`` would fail (2BP01) after the earlier phases ran, or they would read
        the old column meanwhile."""
        if self.schema_facts is None or self.facts is None:
            return
        found = self.schema_facts.dependents_of(self.facts.schema, self.facts.name, column)
        if found:
            raise CannotPlan(
                f"cannot {what} {self.sql}.{qualified(None, column)} in phases: "
                f"{', '.join(found)} depend{'s' if len(found) == 1 else ''} on it, and the "
                "planner does not carry dependents through the phases (the contract's DROP "
                "COLUMN would fail with 2BP01, or they would read the old column meanwhile)",
                hint="drop them in a change of their own first, and create them again once "
                "this change's contract ran; or write the migration by hand",
            )

    def refuse_update_triggers(self, columns: Iterable[str], what: str) -> None:
        """:class:`CannotPlan` when the plan's own ``UPDATE`` of every row (``what``: the
        backfill that copies or fills ``columns``) would fire triggers of the table,
        where the naive ``ALTER`` fires none (finding F50: a ``version`` counter bumped,
        an ``updated_at`` set, an audit row written for every row)."""
        if self.schema_facts is None or self.facts is None or self.facts.created_in_change:
            return
        fired = self.schema_facts.update_triggers(
            self.facts.schema, self.facts.name, frozenset(columns)
        )
        if fired:
            names = ", ".join(fired)
            raise CannotPlan(
                f"cannot {what} in phases: the plan's backfill updates every row of "
                f"{self.sql}, which fires {names} on each of them, where the one ALTER fires "
                "no trigger (what the trigger sets or writes would change for every row)",
                hint="run the statement as written in a maintenance window (with -- "
                "migrate:lint-ignore and the reason), or write the phases by hand with a "
                "backfill the trigger ignores",
            )

    def condition(
        self,
        kind: ConditionKind,
        source: str,
        columns: tuple[str, ...] = (),
        expression: str = "",
        why: str = "",
        late: bool = True,
    ) -> Condition | None:
        """What ``source`` makes the rows of this table satisfy (:mod:`..prechecks`);
        ``None`` for a table without rows yet."""
        if self.facts is None or self.facts.created_in_change:
            return None
        facts = self.facts
        return Condition(
            facts.schema, facts.name, self.sql, kind, source, columns, expression, why, late
        )

    def row_change(self, **fields: Any) -> RowChange | None:
        """What a data change does to the rows of this table (:mod:`..prechecks`);
        ``None`` for a table without rows yet."""
        if self.facts is None or self.facts.created_in_change:
            return None
        facts = self.facts
        columns = tuple((c.name, c.type_sql) for c in facts.columns.values())
        return RowChange(facts.schema, facts.name, self.sql, columns, **fields)

    def require(self, why: str) -> TableFacts:
        """The table's facts, or :class:`CannotPlan` saying the planner needs them."""
        if self.facts is None:
            raise CannotPlan(
                f"table {self.sql} is not created by any earlier migration, so the planner "
                f"does not know its columns and keys ({why})",
                hint="plan changes to tables your migrations create, or write the phases "
                "by hand (docs/planner.md)",
            )
        if not self.facts.columns_known:
            raise CannotPlan(
                f"the columns of {self.sql} are not known (created with AS, LIKE or as a "
                f"view), and the planner needs them ({why})"
            )
        return self.facts


def resolve(facts: SchemaFacts, schema: str | None, name: str) -> Target:
    return Target(schema, name, facts.table(schema, name), facts)


def short_digest(text: str) -> str:
    """6 hex digits of a hash of ``text``: names the plan makes up for one statement
    differ from the ones it makes for another on the same column."""
    return hashlib.sha256(text.encode()).hexdigest()[:6]
