"""More random changes for the differential harness: the schemas and statements of
grammar.py, plus what it does not draw (issue 14's list, beyond the first grammar):
identity columns that are not the key, tables partitioned by list or hash of their key
(and range, as before), materialized views, user triggers (one filling a column, one
writing an audit table), and statements that add or drop identities, update a table
from another one, create, refresh and drop materialized views, create and drop
triggers, and create or detach partitions. A grammar of its own, so the main one's
runs stay comparable from seed to seed."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.plan.differential.grammar import (
    NUMBERS,
    TYPES,
    VOLATILE,
    Column,
    Model,
    Table,
    _column_sql,
    _schema_sql,
    _statement,
    _table,
    maybe_second_table,
)
from tests.plan.differential.harness import Case

#: the audit table the ``audit`` triggers write: no key, compared as a multiset of rows
AUDIT = "CREATE TABLE audit (tbl text NOT NULL, op text NOT NULL, row_id bigint);"

#: each trigger names its table by an argument, not by TG_TABLE_NAME: a plan renames a
#: table before the naive point (old clients write through a view of the old name)
AUDIT_FUNCTION = """CREATE FUNCTION audit_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (tbl, op, row_id)
  VALUES (TG_ARGV[0], TG_OP, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END $$;"""


def _plain(table: Table) -> list[Column]:
    """The columns a client or a trigger may write (not generated, not identity)."""
    return [c for c in table.columns if c.generated is None and c.identity is None]


def _fill_trigger(model: Model, table: Table, column: Column) -> str:
    """A function and a ``BEFORE INSERT OR UPDATE`` trigger that give ``column`` its
    type's constant where a write leaves it NULL."""
    name = model.fresh(f"{table.name}_fill")
    table.triggers.append(name)
    constant = TYPES[column.type][1]
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN NEW.{column.name} := coalesce(NEW.{column.name}, {constant}); RETURN NEW; END $$;\n"
        f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table.name} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()"
    )


@st.composite
def _extra_table(draw: st.DrawFn, model: Model, name: str, shifts: bool = False) -> Table:
    """A table of grammar.py, perhaps with an identity column besides its key and
    partitioned by range, list or hash (less often with ``shifts``: the codes of
    :func:`_code_column` need a table that is not partitioned)."""
    table = draw(_table(name))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["int", "bigint"]))
        identity = draw(st.sampled_from(["ALWAYS", "BY DEFAULT"]))
        table.columns.append(Column(model.fresh(f"{name}_i"), kind, identity=identity))
    plain = shifts and draw(st.booleans())
    partition_by = "" if plain else draw(st.sampled_from(["", "range", "list", "hash"]))
    table.partitioned = bool(partition_by)
    table.partition_by = partition_by or "range"
    return table


def _code_column(draw: st.DrawFn, table: Table, rows: int) -> tuple[list[str], list[str]]:
    """A unique text column ``<table>_code`` (a constraint or a unique index) holding
    ``k<id>``, except one row that holds another row's value with an ``x`` appended:
    appending ``x`` to every value (``shift codes``) leaves them unique, but moves that
    other row onto the value the first one holds until its own turn. PostgreSQL checks
    the key row by row: the single UPDATE fails where the holder comes later (by key,
    as the seed inserted the rows), and succeeds where it comes first; a plan walking the
    key in batches must not commit a batch before a later one fails."""
    t, code = table.name, f"{table.name}_code"
    table.codes.append(code)
    holder, other = draw(st.lists(st.integers(1, rows), min_size=2, max_size=2, unique=True))
    if draw(st.booleans()):
        unique = f"ALTER TABLE {t} ADD CONSTRAINT {code}_key UNIQUE ({code});"
    else:
        unique = f"CREATE UNIQUE INDEX {code}_key ON {t} ({code});"
    schema = [f"ALTER TABLE {t} ADD COLUMN {code} text;", unique]
    # one UPDATE: the rows keep their order in the table (a second UPDATE of the holder
    # would move it to the end, and the single UPDATE would always meet it last)
    value = f"CASE WHEN id = {holder} THEN 'k{other}x' ELSE 'k' || id END"
    seed = [f"UPDATE {t} SET {code} = {value};"]
    return schema, seed


@st.composite
def _schema_extras(
    draw: st.DrawFn, model: Model, rows: int = 0, shifts: bool = False
) -> tuple[str, str]:
    """A materialized view and a trigger (filling a column, or auditing writes) on some
    tables (with ``shifts``, perhaps a column of :func:`_code_column` on a table that is
    not partitioned): their SQL, and what the seed runs after its rows (a refresh)."""
    schema, seed = [], []
    for table in model.tables:
        if draw(st.booleans()):
            view = model.fresh(f"{table.name}_mv")
            table.matviews.append(view)
            plain = _plain(table)
            value = f", {plain[0].name}" if plain else ""
            schema.append(f"CREATE MATERIALIZED VIEW {view} AS SELECT id{value} FROM {table.name};")
            if draw(st.booleans()):  # what REFRESH ... CONCURRENTLY needs
                schema.append(f"CREATE UNIQUE INDEX {view}_id ON {view} (id);")
            seed.append(f"REFRESH MATERIALIZED VIEW {view};")
        trigger = draw(st.sampled_from(["", "fill", "audit"]))
        if trigger == "fill" and _plain(table):
            schema.append(_fill_trigger(model, table, draw(st.sampled_from(_plain(table)))) + ";")
        elif trigger == "audit":
            if AUDIT not in schema:
                schema += [AUDIT, AUDIT_FUNCTION]
            name = model.fresh(f"{table.name}_audit")
            table.triggers.append(name)
            schema.append(
                f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table.name} "
                f"FOR EACH ROW EXECUTE FUNCTION audit_write('{table.name}');"
            )
        if shifts and not table.partitioned:
            code_schema, code_seed = _code_column(draw, table, rows)
            schema += code_schema
            seed += code_seed
    return "\n".join(schema) + "\n", "\n".join(seed) + "\n"


@st.composite
def _volatile_columns(draw: st.DrawFn, model: Model, table: Table) -> str:
    """Two columns added to ``table``, each with a volatile default, perhaps NOT NULL
    (lemmy 0070, 0104: each column alone is the planner's volatile-default recipe)."""
    statements = []
    for _ in range(2):
        kind = draw(st.sampled_from([k for k in sorted(TYPES) if VOLATILE.get(k, "") is not None]))
        default = VOLATILE.get(kind) or f"(random() * 0)::int::{kind}"
        column = Column(model.fresh(f"{table.name}_v"), kind, draw(st.booleans()), default)
        table.columns.append(column)
        statements.append(f"ALTER TABLE {table.name} ADD COLUMN {_column_sql(column)}")
    return ";\n".join(statements)


def _rebuildable_views(model: Model, table: Table) -> list[str]:
    """The plain views of ``table`` whose columns it still has (in :attr:`Model.view_columns`)."""
    alive = [id(c) for c in table.columns]
    return [
        view
        for view in table.views
        if view in model.view_columns and all(id(c) in alive for c in model.view_columns[view][1])
    ]


@st.composite
def _rebuild_views(draw: st.DrawFn, model: Model, table: Table) -> str:
    """The views of ``table`` dropped, a column they show widened, renamed or dropped
    (or a column added), and the same views created again with the column as it is
    then (lemmy 0034, 0080, 0082, 0088: what a team does when a view blocks a change)."""
    views = _rebuildable_views(model, table)
    shown = [c for view in views for c in model.view_columns[view][1]]
    candidates = shown or [c for c in table.columns if c.identity is None]
    kinds = ["add column"]
    if candidates:
        kinds += ["widen", "rename column", "drop column"]
    kind = draw(st.sampled_from(kinds))
    t = table.name
    statements = [f"DROP VIEW {', '.join(views)}"]
    if kind == "add column":
        new = Column(model.fresh(f"{t}_n"), draw(st.sampled_from(sorted(TYPES))))
        new.default = draw(st.sampled_from([None, TYPES[new.type][1]]))
        table.columns.append(new)
        statements.append(f"ALTER TABLE {t} ADD COLUMN {_column_sql(new)}")
        view = draw(st.sampled_from(views))  # the view that shows it
        model.view_columns[view][1].append(new)
    else:
        column = draw(st.sampled_from(candidates))
        c = column.name
        if kind == "widen":
            column.type = TYPES[column.type][2]
            statements.append(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {column.type}")
        elif kind == "rename column":
            column.name = model.fresh(f"{t}_r")
            statements.append(f"ALTER TABLE {t} RENAME COLUMN {c} TO {column.name}")
        else:
            table.columns.remove(column)
            statements.append(f"ALTER TABLE {t} DROP COLUMN {c}")
            for view in views:  # a view of that column alone shows ``id`` instead
                with_id, columns = model.view_columns[view]
                left = [s for s in columns if s is not column]
                model.view_columns[view] = (with_id or not left, left)
    for view in views:
        with_id, columns = model.view_columns[view]
        shows = (["id"] if with_id else []) + [c.name for c in columns]
        statements.append(f"CREATE VIEW {view} AS SELECT {', '.join(shows)} FROM {t}")
    if kind == "widen":  # as grammar.py's widen: no further changes to a column of no type there
        for column in [c for c in table.columns if c.type not in TYPES]:
            table.columns.remove(column)
    return ";\n".join(statements)


@st.composite
def _extra_statement(draw: st.DrawFn, model: Model) -> str:
    """A statement only this grammar draws (None-free: there is always one)."""
    table = draw(st.sampled_from(model.tables))
    t = table.name
    plain = _plain(table)
    kinds = ["create matview", "add identity column"]
    if len(model.tables) > 1 and plain:
        kinds.append("update from")
    if table.matviews:
        kinds += ["refresh matview", "drop matview"]
    if plain:
        kinds.append("create trigger")
    if table.triggers:
        kinds.append("drop trigger")
    identities = [c for c in table.columns if c.identity is not None]
    if identities:
        kinds += ["drop identity", "widen identity"]
    numbers = [c for c in plain if c.type in NUMBERS[:2] and c.not_null]
    if numbers:
        kinds.append("add identity")
    if table.partitioned and table.partition_by == "list":
        kinds += ["create partition", "detach partition"]
    if table.codes:  # weighed up: the class this flag exists for
        kinds += ["shift codes"] * 8
    kinds.append("volatile columns")
    if _rebuildable_views(model, table):
        kinds.append("rebuild views")
    kind = draw(st.sampled_from(kinds))
    if kind == "volatile columns":
        return draw(_volatile_columns(model, table))
    if kind == "rebuild views":
        return draw(_rebuild_views(model, table))
    if kind == "shift codes":
        code = draw(st.sampled_from(table.codes))
        where = draw(st.sampled_from(["", f" WHERE {code} IS NOT NULL", " WHERE id % 2 = 0"]))
        return f"UPDATE {t} SET {code} = {code} || 'x'{where}"
    if kind == "create matview":
        view = model.fresh(f"{t}_mv")
        table.matviews.append(view)
        value = f", {plain[0].name}" if plain else ""
        return f"CREATE MATERIALIZED VIEW {view} AS SELECT id{value} FROM {t}"
    if kind == "refresh matview":
        return f"REFRESH MATERIALIZED VIEW {draw(st.sampled_from(table.matviews))}"
    if kind == "drop matview":
        return f"DROP MATERIALIZED VIEW {table.matviews.pop()}"
    if kind == "add identity column":
        identity = draw(st.sampled_from(["ALWAYS", "BY DEFAULT"]))
        column = Column(model.fresh(f"{t}_i"), "bigint", identity=identity)
        table.columns.append(column)
        return f"ALTER TABLE {t} ADD COLUMN {column.name} bigint GENERATED {identity} AS IDENTITY"
    if kind == "update from":
        column = draw(st.sampled_from(plain))
        other = draw(st.sampled_from([o for o in model.tables if o is not table]))
        same = [c for c in _plain(other) if c.type == column.type]
        value = f"{other.name}.{same[0].name}" if same else TYPES[column.type][1]
        return (
            f"UPDATE {t} SET {column.name} = {value} FROM {other.name} "
            f"WHERE {other.name}.id = {t}.id AND {other.name}.id % 2 = 0"
        )
    if kind == "create trigger":
        return _fill_trigger(model, table, draw(st.sampled_from(plain)))
    if kind == "drop trigger":
        return f"DROP TRIGGER {table.triggers.pop()} ON {t}"
    if kind in {"drop identity", "widen identity"}:
        column = draw(st.sampled_from(identities))
        if kind == "widen identity":
            column.type = "bigint"
            return f"ALTER TABLE {t} ALTER COLUMN {column.name} TYPE bigint"
        column.identity = None
        column.not_null = True  # the identity's NOT NULL stays
        return f"ALTER TABLE {t} ALTER COLUMN {column.name} DROP IDENTITY"
    if kind == "add identity":
        column = draw(st.sampled_from(numbers))
        column.identity, column.default = "BY DEFAULT", None
        return f"ALTER TABLE {t} ALTER COLUMN {column.name} ADD GENERATED BY DEFAULT AS IDENTITY"
    if kind == "create partition":
        partition = model.fresh(f"{t}_p")
        return f"CREATE TABLE {partition} PARTITION OF {t} FOR VALUES IN ({100000 + model.counter})"
    assert kind == "detach partition"
    return f"ALTER TABLE {t} DETACH PARTITION {t}_p1"


@st.composite
def extra_cases(draw: st.DrawFn, shifts: bool = False) -> Case:
    """A random :class:`Case` as :func:`grammar.cases` draws it, with the schema extras
    and each statement from this grammar or the first one. ``shifts`` adds the unique
    codes of :func:`_code_column` and the UPDATE that shifts them (off by default: the
    same seed draws the same cases as before it existed)."""
    model = Model([])
    model.tables.append(draw(_extra_table(model, "a", shifts)))
    maybe_second_table(draw, model, lambda: _extra_table(model, "b", shifts))
    rows = draw(st.integers(20, 120))
    view = draw(st.sampled_from(["", "with id", "without id", "join"]))
    schema, seed = _schema_sql(model, rows, with_view=view)
    extra_schema, extra_seed = draw(_schema_extras(model, rows, shifts))
    statements, naive = [], []
    for _ in range(draw(st.integers(1, 4))):
        if not model.tables:
            break
        extra = draw(st.booleans())
        statements.append(draw(_extra_statement(model) if extra else _statement(model)))
        naive.append(model.naive or statements[-1])
        model.naive = None
    return Case(
        id="generated-extra",
        schema=schema + extra_schema,
        seed=seed + extra_seed,
        change=";\n".join(statements),
        naive=";\n".join(naive) if naive != statements else None,
        about="generated by tests/plan/differential/grammar_extra.py",
        planned_extra=frozenset(model.planned_extra),
        unwritten=frozenset({"audit"}) if AUDIT in extra_schema else frozenset(),
    )
