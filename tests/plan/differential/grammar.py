"""Random changes for the differential harness (Hypothesis): a small schema with rows
and views, and 1 to 4 statements drawn from a grammar of the changes the corpus holds
(columns added, dropped, renamed, retyped, defaults, NOT NULL, checks, indexes, data
changes, views, table renames). Each statement is drawn against the schema the
statements before it leave, so it names what exists (a statement PostgreSQL refuses
is fine too: the naive SQL then fails, and the plan must fail as safely)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.plan.differential.harness import Case

#: type -> (seed expression of ``g``, a constant, a wider type, a narrower type)
TYPES: dict[str, tuple[str, str, str, str]] = {
    "int": ("g % 7", "3", "bigint", "smallint"),
    "bigint": ("g * 11", "5", "numeric(20, 0)", "int"),
    "text": ("'s' || (g % 13)", "'x'", "text", "varchar(3)"),
    "varchar(20)": ("'v' || g", "'d'", "varchar(40)", "varchar(2)"),
    "boolean": ("g % 2 = 0", "true", "boolean", "boolean"),
    "numeric(8, 2)": ("g * 1.25", "1.5", "numeric(12, 2)", "int"),
}


@dataclass
class Column:
    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    #: a check forbids its constant (then it gets no default of that constant: every
    #: row an old client inserts would break the check once the plan's expand ran)
    checked: bool = False


@dataclass
class Table:
    name: str
    columns: list[Column]
    views: list[str] = field(default_factory=list)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass
class Model:
    tables: list[Table]
    counter: int = 0
    #: what the naive copy runs for the statement just drawn, when not the statement
    naive: str | None = None

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def _column_sql(column: Column) -> str:
    sql = f"{column.name} {column.type}"
    if column.default is not None:
        sql += f" DEFAULT {column.default}"
    if column.not_null:
        sql += " NOT NULL"
    return sql


@st.composite
def _table(draw: st.DrawFn, name: str) -> Table:
    count = draw(st.integers(1, 3))
    columns = []
    for i in range(count):
        kind = draw(st.sampled_from(sorted(TYPES)))
        not_null = draw(st.booleans())
        default = TYPES[kind][1] if draw(st.booleans()) else None
        columns.append(Column(f"{name}_c{i}", kind, not_null, default))
    return Table(name, columns)


def _schema_sql(model: Model, rows: int, with_view: bool) -> tuple[str, str]:
    schema, seed = [], []
    for table in model.tables:
        columns = ", ".join(_column_sql(c) for c in table.columns)
        schema.append(f"CREATE TABLE {table.name} (id serial PRIMARY KEY, {columns});")
        names = ", ".join(c.name for c in table.columns)
        values = ", ".join(
            TYPES[c.type][0]
            if c.not_null
            else f"CASE WHEN g % 5 = 0 THEN NULL ELSE {TYPES[c.type][0]} END"
            for c in table.columns
        )
        seed.append(
            f"INSERT INTO {table.name} ({names}) SELECT {values} FROM generate_series(1, {rows}) g;"
        )
    if with_view:
        table = model.tables[0]
        column = table.columns[0]
        view = f"{table.name}_view"
        schema.append(f"CREATE VIEW {view} AS SELECT id, {column.name} FROM {table.name};")
        table.views.append(view)
    return "\n".join(schema) + "\n", "\n".join(seed) + "\n"


@st.composite
def _statement(draw: st.DrawFn, model: Model) -> str:
    table = draw(st.sampled_from(model.tables))
    column = draw(st.sampled_from(table.columns)) if table.columns else None
    kinds = ["add column", "add column then default", "create index", "update", "delete"]
    if column is not None:
        kinds += [
            "drop column",
            "rename column",
            "widen",
            "narrow",
            "drop not null",
            "set default",
            "drop default",
            "add check",
            "update null rows",
            "set not null",
        ]
        if column.default is None:  # a default: every row an old client adds repeats it
            kinds += ["unique index", "check a value"]
        if column.checked:
            kinds.remove("set default")
    kinds.append("drop view" if table.views else "rename table")
    kind = draw(st.sampled_from(kinds))
    t = table.name
    if kind == "add column" or kind == "add column then default":
        new = Column(model.fresh(f"{t}_n"), draw(st.sampled_from(sorted(TYPES))))
        constant = TYPES[new.type][1]
        if kind == "add column then default":
            table.columns.append(new)
            new.default = constant
            return (
                f"ALTER TABLE {t} ADD COLUMN {new.name} {new.type};\n"
                f"ALTER TABLE {t} ALTER COLUMN {new.name} SET DEFAULT {constant}"
            )
        new.default = draw(st.sampled_from([None, constant, "volatile"]))
        if new.default == "volatile":
            new.default = f"(random() * 0)::int::{new.type}" if new.type != "boolean" else None
        new.not_null = new.default is not None and draw(st.booleans())
        table.columns.append(new)
        return f"ALTER TABLE {t} ADD COLUMN {_column_sql(new)}"
    if kind == "create index":
        target = column.name if column is not None else "id"
        return f"CREATE INDEX {model.fresh(f'{t}_idx')} ON {t} ({target})"
    if kind == "update":
        if column is None:
            return f"UPDATE {t} SET id = id WHERE id % 3 = 0"
        constant = TYPES[column.type][1]
        return f"UPDATE {t} SET {column.name} = {constant} WHERE id % 3 = 0"
    if kind == "delete":
        return f"DELETE FROM {t} WHERE id % 4 = 1"
    if kind == "rename table":
        table.name = model.fresh("r")
        return f"ALTER TABLE {t} RENAME TO {table.name}"
    if kind == "drop view":
        return f"DROP VIEW {table.views.pop()}"
    assert column is not None
    c = column.name
    if kind == "drop column":
        table.columns.remove(column)
        return f"ALTER TABLE {t} DROP COLUMN {c}"
    if kind == "rename column":
        column.name = model.fresh(f"{t}_r")
        return f"ALTER TABLE {t} RENAME COLUMN {c} TO {column.name}"
    if kind in {"widen", "narrow"}:
        column.type = TYPES[column.type][2 if kind == "widen" else 3]
        if column.type not in TYPES:  # no further changes to this column
            table.columns.remove(column)
        return f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {column.type}"
    if kind == "update null rows":
        return f"UPDATE {t} SET {c} = {TYPES[column.type][1]} WHERE {c} IS NULL"
    if kind == "check a value":  # the constant an UPDATE writes breaks it
        constant = TYPES[column.type][1]
        column.checked = True
        name = model.fresh(f"{t}_check")
        return f"ALTER TABLE {t} ADD CONSTRAINT {name} CHECK ({c} IS DISTINCT FROM {constant})"
    if kind == "set not null":
        column.not_null = True
        statement = f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"
        if column.default is not None:  # the plan fills NULLs with it (docs/planner.md)
            model.naive = f"UPDATE {t} SET {c} = DEFAULT WHERE {c} IS NULL;\n{statement}"
        return statement
    if kind == "drop not null":
        column.not_null = False
        return f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL"
    if kind == "set default":
        column.default = TYPES[column.type][1]
        return f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {column.default}"
    if kind == "drop default":
        column.default = None
        return f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"
    if kind == "add check":
        return f"ALTER TABLE {t} ADD CONSTRAINT {model.fresh(f'{t}_check')} CHECK ({c} IS NOT NULL)"
    assert kind == "unique index"
    return f"CREATE UNIQUE INDEX {model.fresh(f'{t}_key')} ON {t} ({c})"


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A random :class:`Case`: one or two tables of a few dozen rows, maybe a view, and
    1 to 4 statements."""
    model = Model([draw(_table("a"))])
    if draw(st.booleans()):
        model.tables.append(draw(_table("b")))
    rows = draw(st.integers(20, 120))
    schema, seed = _schema_sql(model, rows, with_view=draw(st.booleans()))
    statements, naive = [], []
    for _ in range(draw(st.integers(1, 4))):
        statements.append(draw(_statement(model)))
        naive.append(model.naive or statements[-1])
        model.naive = None
    return Case(
        id="generated",
        schema=schema,
        seed=seed,
        change=";\n".join(statements),
        naive=";\n".join(naive) if naive != statements else None,
        about="generated by tests/plan/differential/grammar.py",
    )
