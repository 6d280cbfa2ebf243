"""Replaying statements into a :class:`~migrator.sql.catalog.Catalog`.

One handler per statement kind (``CreateStmt``, ``AlterTableStmt``, ...), each turning
a JSON parse tree into new catalog values. :func:`apply_statement` is the entry point
(:meth:`Catalog.apply` calls it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from migrator.sql.catalog import (
    CONSTRAINT_KINDS,
    Catalog,
    Column,
    Constraint,
    Enum,
    Function,
    Index,
    Origin,
    Table,
    TableKind,
)
from migrator.sql.index_column_names import index_column_names
from migrator.sql.names import (
    MAX_IDENTIFIER_BYTES,
    QualifiedName,
    object_name,
    parse_qualified,
    relation_name,
    strings,
    type_ref,
)
from migrator.sql.parse import Node
from migrator.sql.tree import HOLD_NO_TABLE, walk

_T = TypeVar("_T")


def replace(value: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for the catalog's frozen values, without re-running
    ``__init__`` (ten times faster; the values have no ``__post_init__``)."""
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__)
    new.__dict__.update(changes)
    return new


_NAME_SUFFIX = {
    "primary key": "pkey",
    "unique": "key",
    "check": "check",
    "foreign key": "fkey",
    "exclusion": "excl",
    "not null": "not_null",
}


def _clipped(text: bytes, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` bytes that ends on a whole
    character (PostgreSQL's ``pg_mbcliplen``)."""
    return text[:limit].decode("utf-8", "ignore")


def default_name(table: str, columns: Iterable[str | None], suffix: str) -> str:
    """PostgreSQL's generated name for an index or constraint before a clash with
    another name adds a number: ``makeObjectName(table, columns joined by _, suffix)``.
    When the whole is over 63 bytes, the longer of the table part and the columns part
    is cut first, then each on a character boundary (the suffix is always kept)."""
    first = table.encode("utf-8")
    names = [(c or "expr").encode("utf-8")[:MAX_IDENTIFIER_BYTES] for c in columns]
    second = b"_".join(names) if names else None
    available = MAX_IDENTIFIER_BYTES - len(suffix) - 1 - (1 if second is not None else 0)
    first_bytes, second_bytes = len(first), len(second or b"")
    while first_bytes + second_bytes > available:
        if first_bytes > second_bytes:
            first_bytes -= 1
        else:
            second_bytes -= 1
    parts = [_clipped(first, first_bytes)]
    if second is not None:
        parts.append(_clipped(second, second_bytes))
    return "_".join([*parts, suffix])


#: the serial types (``serial4`` and the others are read as these)
SERIAL_TYPES = ("serial", "bigserial", "smallserial")


def with_sequences(
    catalog: Catalog, table: QualifiedName, columns: Iterable[Column]
) -> list[Column]:
    """``columns`` of ``table``, each serial or identity column with the name of the
    sequence PostgreSQL creates for it (``ChooseRelationName(table, column, "seq")``:
    ``t_id_seq``, cut to 63 bytes, numbered while a table, view or index of the schema,
    or a sequence named before in the same statement, has it; a sequence created by
    ``CREATE SEQUENCE`` or another table's column is not known to the replay)."""
    named: list[str] = []
    found: list[Column] = []
    for column in columns:
        serial = column.type.name in SERIAL_TYPES and column.type.schema is None
        if column.sequence is None and (serial or column.identity is not None):
            label, number = "seq", 0
            while True:
                name = default_name(table.name, [column.name], label)
                if name not in named and not catalog.relation_taken(
                    QualifiedName(table.schema, name)
                ):
                    break
                number += 1
                label = f"seq{number}"
            named.append(name)
            column = replace(column, sequence=name)
            if serial and column.identity is None:
                column = replace(column, default_sequence=QualifiedName(table.schema, name))
            catalog.store_sequence(QualifiedName(table.schema, name), column.origin)
            catalog.own_sequence(QualifiedName(table.schema, name), table)
        found.append(column)
    return found


def default_sequence(catalog: Catalog, default: Node | None) -> QualifiedName | None:
    """The sequence a default expression takes values from: ``nextval('s')`` (or
    ``'s'::regclass``), whose name PostgreSQL resolves when the default is stored (along
    ``search_path``) and keeps as a dependency; ``nextval('s'::text)`` is looked up at
    each call and depends on nothing."""
    for kind, fields in walk(default or {}):
        if kind != "FuncCall" or strings(fields.get("funcname"))[-1:] != ["nextval"]:
            continue
        argument = (fields.get("args") or [{}])[0]
        cast = argument.get("TypeCast")
        if cast is not None:
            if strings(cast.get("typeName", {}).get("names"))[-1:] != ["regclass"]:
                continue
            argument = cast.get("arg") or {}
        text = argument.get("A_Const", {}).get("sval", {}).get("sval")
        if isinstance(text, str):
            schema, name = parse_qualified(text)
            return catalog.resolve(schema, name, kind="sequence")
    return None


def _with_default_sequence(catalog: Catalog, column: Column) -> Column:
    return replace(column, default_sequence=default_sequence(catalog, column.default_node))


def free_name(
    catalog: Catalog,
    table: Table,
    columns: Iterable[str | None],
    suffix: str,
    *,
    relation: bool,
    constraint: bool,
) -> str:
    """The name PostgreSQL gives an unnamed index or constraint of ``table``
    (ChooseRelationName / ChooseConstraintName): :func:`default_name`, with 1, 2, ...
    after the suffix while a relation of the schema (``relation``) or a constraint of
    the table (``constraint``) has it: a second ``CREATE INDEX ON t (c)`` is
    ``t_c_idx1``."""
    columns = tuple(columns)
    label, number = suffix, 0
    while True:
        name = default_name(table.name.name, columns, label)
        taken = (relation and catalog.relation_taken(QualifiedName(table.name.schema, name))) or (
            constraint and table.constraint(name) is not None
        )
        if not taken:
            return name
        number += 1
        label = f"{suffix}{number}"


def _check_not_null_columns(expr: Node | None) -> tuple[str, ...]:
    """Columns that ``expr`` proves NOT NULL: ``c IS NOT NULL`` or an AND of such."""
    if not expr:
        return ()
    if "NullTest" in expr:
        test = expr["NullTest"]
        if test.get("nulltesttype") != "IS_NOT_NULL":
            return ()
        fields = strings(test.get("arg", {}).get("ColumnRef", {}).get("fields"))
        return (fields[-1],) if fields else ()
    if "BoolExpr" in expr and expr["BoolExpr"].get("boolop") == "AND_EXPR":
        found: list[str] = []
        for arg in expr["BoolExpr"].get("args") or ():
            found.extend(_check_not_null_columns(arg))
        return tuple(found)
    return ()


def _name_columns(kind: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns PostgreSQL puts in a generated constraint name."""
    if kind == "primary key":
        return ()
    return columns[:1] if kind == "check" else columns


def _index_columns(params: list[Any] | None) -> tuple[str | None, ...]:
    columns: list[str | None] = []
    for param in params or ():
        element = param.get("IndexElem", {})
        columns.append(element.get("name"))
    return tuple(columns)


def add_constraint(catalog: Catalog, table: Table, node: Node, column: str | None = None) -> Table:
    kind = CONSTRAINT_KINDS.get(node.get("contype", ""))
    if kind is None:
        return table
    origin = catalog.origin
    valid = not node.get("skip_validation")
    if kind == "not null":
        if column is None:
            keys = strings(node.get("keys"))
            column = keys[0] if keys else None
        if column is None:
            return table
        if valid:
            return _set_column(table, column, not_null=True)
    if column is not None:
        columns: tuple[str, ...] = (column,)
    elif kind == "foreign key":
        columns = tuple(strings(node.get("fk_attrs")))
    elif kind == "exclusion":
        columns = ()
    else:
        columns = tuple(strings(node.get("keys")))
    named_by = columns
    if kind == "unique" and node.get("including"):
        named_by = index_column_names(
            [{"name": c} for c in columns], [{"name": c} for c in strings(node.get("including"))]
        )
    elif kind == "exclusion":
        pairs = [pair.get("List", {}).get("items") or [{}] for pair in node.get("exclusions") or ()]
        named_by = index_column_names(pair[0] for pair in pairs)
    if kind == "check" and column is None:  # named after its column when it reads one
        read = {
            strings(ref.get("fields"))[-1:][0]
            for node_kind, ref in walk(node.get("raw_expr"))
            if node_kind == "ColumnRef" and strings(ref.get("fields"))
        }
        named_by = (read.pop(),) if len(read) == 1 else ()
    name = node.get("conname") or free_name(
        catalog,
        table,
        _name_columns(kind, named_by),
        _NAME_SUFFIX[kind],
        relation=kind in ("primary key", "unique", "exclusion"),
        constraint=True,
    )
    references = None
    referenced: tuple[str, ...] = ()
    if kind == "foreign key":
        references, _ = catalog.relation_of(node.get("pktable"))
        referenced = tuple(strings(node.get("pk_attrs")))
    index_name = None
    if kind in ("primary key", "unique"):
        index_name = node.get("indexname") or name
        existing = catalog.index(QualifiedName(table.name.schema, index_name))
        if node.get("indexname") and existing is not None:
            columns = columns or tuple(c for c in existing.columns if c is not None)
            table = _drop_index_value(table, existing.name)
        table = with_index(
            table,
            Index(
                QualifiedName(table.name.schema, index_name),
                table.name,
                columns,
                unique=True,
                primary=kind == "primary key",
                constraint=name,
                origin=origin,
            ),
        )
        if kind == "primary key":
            for col in columns:
                table = _set_column(table, col, not_null=True)
    constraint = Constraint(
        name=name,
        kind=kind,
        columns=columns,
        valid=valid,
        references=references,
        referenced_columns=referenced,
        proves_not_null=_check_not_null_columns(node.get("raw_expr")) if kind == "check" else (),
        index=index_name,
        origin=origin,
        validated=origin if valid else None,
        node=node,
    )
    others = tuple(c for c in table.constraints if c.name != name)
    return replace(table, constraints=(*others, constraint))


def _set_column(table: Table, name: str, **changes: Any) -> Table:
    columns = tuple(replace(c, **changes) if c.name == name else c for c in table.columns)
    return replace(table, columns=columns)


def with_index(table: Table, index: Index) -> Table:
    """``table`` with ``index`` added (replacing one of the same name)."""
    return replace(table, indexes=(*[i for i in table.indexes if i.name != index.name], index))


def _drop_index_value(table: Table, name: QualifiedName) -> Table:
    return replace(table, indexes=tuple(i for i in table.indexes if i.name != name))


def column_from_def(definition: Node, origin: Origin) -> tuple[Column, list[Node]]:
    """A :class:`Column` from a ``ColumnDef`` node, and its table-level constraints
    (PRIMARY KEY, UNIQUE, CHECK, REFERENCES written on the column)."""
    not_null = False
    default = None
    identity: Literal["always", "by default"] | None = None
    generated = False
    others: list[Node] = []
    for item in definition.get("constraints") or ():
        constraint = item.get("Constraint", {})
        contype = constraint.get("contype")
        if contype == "CONSTR_NOTNULL":
            not_null = True
        elif contype == "CONSTR_DEFAULT":
            default = constraint.get("raw_expr")
        elif contype == "CONSTR_IDENTITY":
            identity = "always" if constraint.get("generated_when") == "a" else "by default"
            not_null = True
        elif contype == "CONSTR_GENERATED":
            generated = True
        elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_CHECK", "CONSTR_FOREIGN"):
            others.append(constraint)
            if contype == "CONSTR_PRIMARY":
                not_null = True
    column_type = type_ref(definition.get("typeName"))
    if column_type.name in ("serial", "bigserial", "smallserial"):
        not_null = True
    return (
        Column(
            definition.get("colname", ""),
            column_type,
            not_null=not_null,
            default_node=default,
            identity=identity,
            generated=generated,
            origin=origin,
        ),
        others,
    )


def _create_table(catalog: Catalog, fields: Node) -> None:
    name, existing = catalog.created_relation(fields.get("relation"))
    if existing is not None and fields.get("if_not_exists"):
        return
    catalog.remove_table(name)
    catalog.note_created(name)
    origin = catalog.origin
    kind: TableKind = "partitioned table" if fields.get("partspec") else "table"
    partition_of = None
    parents = tuple(
        catalog.relation_of(item.get("RangeVar"))[0] for item in fields.get("inhRelations") or ()
    )
    if fields.get("partbound") and parents:
        partition_of, parents = parents[0], ()
    table = Table(name, kind, origin=origin, partition_of=partition_of, inherits=parents)
    pending: list[tuple[Node, str | None]] = []
    columns: list[Column] = []
    for element in fields.get("tableElts") or ():
        if "ColumnDef" in element:
            column, constraints = column_from_def(element["ColumnDef"], origin)
            columns.append(_with_default_sequence(catalog, column))
            pending.extend((c, column.name) for c in constraints)
        elif "Constraint" in element:
            pending.append((element["Constraint"], None))
        else:  # LIKE: columns unknown
            table = replace(table, columns_known=False)
    columns = with_sequences(catalog, name, columns)
    if partition_of is not None:
        parent_table = catalog.table(partition_of)
        if parent_table is not None:
            columns = [replace(c, origin=origin) for c in parent_table.columns] + columns
    table = replace(table, columns=tuple(columns))
    catalog.store_table(table)
    for constraint, column_name in pending:
        table = add_constraint(catalog, table, constraint, column_name)
    catalog.store_table(table)


def _create_table_as(catalog: Catalog, fields: Node) -> None:
    into = fields.get("into", {})
    name, existing = catalog.created_relation(into.get("rel"))
    if existing is not None and fields.get("if_not_exists"):
        return
    kind: TableKind = "materialized view" if fields.get("objtype") == "OBJECT_MATVIEW" else "table"
    catalog.remove_table(name)
    catalog.note_created(name)
    filled = not into.get("skipData") and _reads_tables(fields.get("query"))
    catalog.store_table(
        Table(name, kind, columns_known=False, origin=catalog.origin, filled=filled)
    )


def _reads_tables(query: Node | None) -> bool:
    """The query of ``CREATE TABLE ... AS`` reads at least one table or view."""
    return any(kind == "RangeVar" for kind, _ in walk(query, HOLD_NO_TABLE))


#: ``INTO`` as a word: a ``SELECT`` without it creates nothing (a cheap test before
#: decoding the statement's tree)
_INTO = re.compile(r"\binto\b", re.IGNORECASE)


def may_select_into(text: str) -> bool:
    """``text`` (a ``SELECT``) may be ``SELECT ... INTO new_table``: it has the word."""
    return _INTO.search(text) is not None


def _select_into(catalog: Catalog, fields: Node) -> None:
    """``SELECT ... INTO t`` creates ``t`` as ``CREATE TABLE t AS SELECT ...`` does."""
    into = fields.get("intoClause")
    if into:
        query = {"fromClause": fields.get("fromClause")}
        _create_table_as(catalog, {"into": into, "objtype": "OBJECT_TABLE", "query": query})


#: ``CREATE TABLE name`` in the body of a ``DO`` block (a plain statement of PL/pgSQL,
#: not one built as a string for ``EXECUTE``); compiled when first used (few files hold one)
_CREATE_TABLE_IN_BODY = (
    r"(?i)\bcreate\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?"
    r'((?:"[^"]+"|[a-z_][\w$]*)(?:\s*\.\s*(?:"[^"]+"|[a-z_][\w$]*))?)'
)


def _do_block(catalog: Catalog, fields: Node) -> None:
    """A ``DO`` block is not run, but a table it creates with a plain ``CREATE TABLE``
    is noted (its columns unknown): created by this migration, not one that existed."""
    for option in fields.get("args") or ():
        element = option.get("DefElem", {})
        if element.get("defname") != "as":
            continue
        body = element.get("arg", {}).get("String", {}).get("sval", "")
        for match in re.finditer(_CREATE_TABLE_IN_BODY, body):
            schema, name = parse_qualified(re.sub(r"\s*\.\s*", ".", match.group(1)))
            qualified = catalog.resolve(schema, name)
            if catalog.table(qualified) is None:
                catalog.note_created(qualified)
                catalog.store_table(Table(qualified, columns_known=False, origin=catalog.origin))


def _create_view(catalog: Catalog, fields: Node) -> None:
    name, existing = catalog.created_relation(fields.get("view"))
    if existing is not None and fields.get("replace"):
        return
    catalog.remove_table(name)
    catalog.note_created(name)
    catalog.store_table(Table(name, "view", columns_known=False, origin=catalog.origin))


def _create_index(catalog: Catalog, fields: Node) -> None:
    table_name, table = catalog.relation_of(fields.get("relation"))
    if table is None:
        return
    columns = _index_columns(fields.get("indexParams"))
    # a unique index is not a constraint: PostgreSQL names it ..._idx too; the INCLUDE
    # columns are part of the name, an expression is named by what it calls
    named_by = index_column_names(
        fields.get("indexParams") or (), fields.get("indexIncludingParams") or ()
    )
    name = fields.get("idxname") or free_name(
        catalog, table, named_by, "idx", relation=True, constraint=False
    )
    qualified = QualifiedName(table_name.schema, name)
    if fields.get("if_not_exists") and catalog.index(qualified) is not None:
        return
    index = Index(
        qualified,
        table_name,
        columns,
        unique=bool(fields.get("unique")),
        primary=bool(fields.get("primary")),
        partial=bool(fields.get("whereClause")),
        method=fields.get("accessMethod", "btree"),
        origin=catalog.origin,
        node=fields,
    )
    catalog.store_table(with_index(table, index))


_ALTERABLE = (None, "OBJECT_TABLE", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE")


def _alter_table(catalog: Catalog, fields: Node) -> None:
    if fields.get("objtype") not in _ALTERABLE:
        return
    name, table = catalog.relation_of(fields.get("relation"))
    if table is None:
        # a table from before the first migration: remember what we learn about it
        table = Table(name, columns_known=False)
    for item in fields.get("cmds") or ():
        command = item.get("AlterTableCmd", {})
        table = _alter_table_command(catalog, table, command)
    catalog.store_table(table)


def _alter_table_command(catalog: Catalog, table: Table, command: Node) -> Table:
    subtype = command.get("subtype")
    column: str = command.get("name") or ""
    definition = command.get("def") or {}
    origin = catalog.origin
    if subtype == "AT_AddColumn":
        new_column, constraints = column_from_def(definition.get("ColumnDef", {}), origin)
        if table.column(new_column.name) is not None:
            return table
        new_column = _with_default_sequence(catalog, new_column)
        (new_column,) = with_sequences(catalog, table.name, [new_column])
        table = replace(table, columns=(*table.columns, new_column))
        for constraint_node in constraints:
            table = add_constraint(catalog, table, constraint_node, new_column.name)
        return table
    if subtype == "AT_DropColumn":
        return replace(
            table,
            columns=tuple(c for c in table.columns if c.name != column),
            constraints=tuple(c for c in table.constraints if column not in c.columns),
            indexes=tuple(i for i in table.indexes if column not in i.columns),
        )
    if subtype == "AT_AlterColumnType":
        new_type = type_ref(definition.get("ColumnDef", {}).get("typeName"))
        return _set_column(table, column, type=new_type)
    if subtype == "AT_SetNotNull":
        return _set_column(table, column, not_null=True)
    if subtype == "AT_DropNotNull":
        return _set_column(table, column, not_null=False)
    if subtype == "AT_ColumnDefault":
        return _set_column(
            table,
            column,
            default_node=definition or None,
            default_sequence=default_sequence(catalog, definition or None),
        )
    if subtype == "AT_AddConstraint":
        return add_constraint(catalog, table, definition.get("Constraint", {}))
    if subtype == "AT_DropConstraint":
        dropped = table.constraint(column or "")
        table = replace(table, constraints=tuple(c for c in table.constraints if c.name != column))
        if dropped is not None and dropped.index:
            table = _drop_index_value(table, QualifiedName(table.name.schema, dropped.index))
        if dropped is not None and dropped.kind == "primary key":
            pass  # the columns stay NOT NULL, as in PostgreSQL
        return table
    if subtype == "AT_ValidateConstraint":
        validated = table.constraint(column or "")
        if validated is None or validated.valid:
            return table
        if validated.kind == "not null":  # PostgreSQL 18: the column is now NOT NULL
            others = tuple(c for c in table.constraints if c.name != column)
            table = replace(table, constraints=others)
            return _set_column(table, validated.columns[0], not_null=True)
        validated_constraints = tuple(
            replace(c, valid=True, validated=origin) if c.name == column else c
            for c in table.constraints
        )
        return replace(table, constraints=validated_constraints)
    if subtype == "AT_AddIdentity":
        table = _set_column(table, column, identity="by default", not_null=True)
        return replace(table, columns=tuple(with_sequences(catalog, table.name, table.columns)))
    if subtype == "AT_SetIdentity":
        return _set_column(table, column, identity="by default", not_null=True)
    if subtype == "AT_DropIdentity":
        return _set_column(table, column, identity=None, sequence=None)
    if subtype == "AT_DropExpression":
        return _set_column(table, column, generated=False)
    if subtype == "AT_AddInherit":
        parent = catalog.relation_of(definition.get("RangeVar"))[0]
        return replace(table, inherits=(*table.inherits, parent))
    if subtype == "AT_DropInherit":
        parent = catalog.relation_of(definition.get("RangeVar"))[0]
        return replace(table, inherits=tuple(p for p in table.inherits if p != parent))
    if subtype == "AT_AttachPartition":
        partition = definition.get("PartitionCmd", {}).get("name")
        _, child = catalog.relation_of(partition)
        if child is not None:
            catalog.store_table(replace(child, partition_of=table.name))
    if subtype == "AT_DetachPartition":
        partition = definition.get("PartitionCmd", {}).get("name")
        _, child = catalog.relation_of(partition)
        if child is not None:
            catalog.store_table(replace(child, partition_of=None))
    return table


def _rename(catalog: Catalog, fields: Node) -> None:
    rename_type = fields.get("renameType")
    new_name = fields.get("newname", "")
    if rename_type in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"):
        name, table = catalog.relation_of(fields.get("relation"))
        if table is None:
            return
        catalog.remove_table(name)
        renamed = QualifiedName(name.schema, new_name)
        catalog.note_moved(name, renamed)
        catalog.move_owner(name, renamed)
        table = replace(
            table,
            name=renamed,
            indexes=tuple(replace(i, table=renamed) for i in table.indexes),
        )
        catalog.store_table(table)
    elif rename_type == "OBJECT_COLUMN":
        name, table = catalog.relation_of(fields.get("relation"))
        old = fields.get("subname")
        if table is None or old is None:
            return

        def rename_in(columns: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(new_name if c == old else c for c in columns)

        # only the values that name the column are replaced (the others are shared)
        table = replace(
            table,
            columns=tuple(replace(c, name=new_name) if c.name == old else c for c in table.columns),
            constraints=tuple(
                replace(
                    c,
                    columns=rename_in(c.columns),
                    proves_not_null=rename_in(c.proves_not_null),
                )
                if old in c.columns or old in c.proves_not_null
                else c
                for c in table.constraints
            ),
            indexes=tuple(
                replace(i, columns=rename_in(i.columns)) if old in i.columns else i
                for i in table.indexes
            ),
        )
        catalog.store_table(table)
    elif rename_type == "OBJECT_TABCONSTRAINT":
        name, table = catalog.relation_of(fields.get("relation"))
        old = fields.get("subname")
        if table is None:
            return
        constraints = tuple(
            replace(c, name=new_name) if c.name == old else c for c in table.constraints
        )
        catalog.store_table(replace(table, constraints=constraints))
    elif rename_type == "OBJECT_INDEX":
        schema, old = relation_name(fields.get("relation"))
        index = catalog.index(catalog.resolve(schema, old, kind="index"))
        if index is None:
            return
        table = catalog.table(index.table)
        if table is None:
            return
        catalog.forget_index(index.name)
        table = _drop_index_value(table, index.name)
        renamed_index = replace(index, name=QualifiedName(index.name.schema, new_name))
        catalog.store_table(with_index(table, renamed_index))
    elif rename_type == "OBJECT_SEQUENCE":
        schema, old_name = relation_name(fields.get("relation"))
        sequence = catalog.resolve(schema, old_name, kind="sequence")
        catalog.move_sequence(sequence, QualifiedName(sequence.schema, new_name))
    elif rename_type == "OBJECT_SCHEMA":
        old_schema = fields.get("subname", "")
        _move_schema(catalog, old_schema, new_name)
    elif rename_type in FUNCTION_OBJECTS:
        function = _function_of(catalog, fields.get("object", {}).get("ObjectWithArgs"))
        if function is not None:
            _move_function(catalog, function, QualifiedName(function.name.schema, new_name))
    elif rename_type == "OBJECT_TYPE":
        schema, old = object_name(_list_items(fields.get("object")))
        enum = catalog.enum(catalog.resolve(schema, old, kind="type"))
        if enum is not None:
            catalog.remove_enum(enum.name)
            catalog.store_enum(replace(enum, name=QualifiedName(enum.name.schema, new_name)))
            _retype_columns(catalog, enum.name, new_name)


def _retype_columns(catalog: Catalog, old: QualifiedName, new_name: str) -> None:
    """Columns of the renamed type ``old`` now show its new name (a column stores the
    type, not the name it was written with)."""
    for table in list(catalog.tables()):
        columns = tuple(
            replace(c, type=replace(c.type, name=new_name))
            if c.type.name == old.name
            and catalog.resolve(c.type.schema, c.type.name, kind="type") == old
            else c
            for c in table.columns
        )
        if columns != table.columns:
            catalog.store_table(replace(table, columns=columns))


def _list_items(node: Any) -> list[Any]:
    if isinstance(node, dict) and "List" in node:
        items = node["List"].get("items")
        return list(items) if items else []
    if isinstance(node, list):
        return node
    return []


def _move_schema(catalog: Catalog, old: str, new: str) -> None:
    if not catalog.has_schema(old):
        return
    catalog.rename_schema(old, new)
    for table in [t for t in catalog.tables() if t.name.schema == old]:
        _move_table(catalog, table, new)


def _drop(catalog: Catalog, fields: Node) -> None:
    remove = fields.get("removeType")
    for item in fields.get("objects") or ():
        names = _list_items(item)
        if remove in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"):
            schema, name = object_name(names)
            qualified = catalog.resolve(schema, name)
            catalog.remove_table(qualified)
            for sequence in catalog.owned_sequences(qualified):
                catalog.remove_sequence(sequence)
        elif remove == "OBJECT_SEQUENCE":
            schema, name = object_name(names)
            catalog.remove_sequence(catalog.resolve(schema, name, kind="sequence"))
        elif remove == "OBJECT_INDEX":
            schema, name = object_name(names)
            index = catalog.index(catalog.resolve(schema, name, kind="index"))
            if index is not None:
                table = catalog.table(index.table)
                catalog.forget_index(index.name)
                if table is not None:
                    catalog.store_table(_drop_index_value(table, index.name))
        elif remove == "OBJECT_TYPE":
            type_names = item.get("TypeName", {}).get("names") if isinstance(item, dict) else None
            schema, name = object_name(type_names or names)
            catalog.remove_enum(catalog.resolve(schema, name, kind="type"))
        elif remove == "OBJECT_SCHEMA":
            schema_name = item.get("String", {}).get("sval") if isinstance(item, dict) else None
            if schema_name:
                catalog.remove_schema(schema_name)
        elif remove in FUNCTION_OBJECTS:
            function = item.get("ObjectWithArgs", {}) if isinstance(item, dict) else {}
            schema, name = object_name(function.get("objname"))
            catalog.remove_function(catalog.resolve(schema, name, kind="function"))


def _create_schema(catalog: Catalog, fields: Node) -> None:
    name = fields.get("schemaname")
    if name:
        catalog.add_schema(name)


def _create_enum(catalog: Catalog, fields: Node) -> None:
    schema, name = object_name(fields.get("typeName"))
    qualified = catalog.resolve(schema, name, kind="type")
    values = tuple(strings(fields.get("vals")))
    catalog.store_enum(Enum(qualified, values, catalog.origin))


def _alter_enum(catalog: Catalog, fields: Node) -> None:
    schema, name = object_name(fields.get("typeName"))
    enum = catalog.enum(catalog.resolve(schema, name, kind="type"))
    if enum is None:
        return
    new_value = fields.get("newVal")
    old_value = fields.get("oldVal")
    values = list(enum.values)
    if old_value and new_value:  # RENAME VALUE
        values = [new_value if v == old_value else v for v in values]
    elif new_value and new_value not in values:
        neighbour = fields.get("newValNeighbor")
        if neighbour in values:
            at = values.index(neighbour) + (1 if fields.get("newValIsAfter", True) else 0)
            values.insert(at, new_value)
        else:
            values.append(new_value)
    else:
        return
    catalog.store_enum(replace(enum, values=tuple(values)))


#: the kinds of object a function's ALTER, RENAME, SET SCHEMA or DROP names
FUNCTION_OBJECTS = ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE")


def configure_function(function: Function, options: list[Any] | None) -> Function:
    """``function`` with the attributes of a ``CREATE FUNCTION``'s options or an
    ``ALTER FUNCTION``'s actions: volatility, ``SECURITY DEFINER | INVOKER``, and
    ``SET search_path`` / ``RESET search_path`` / ``RESET ALL``."""
    for option in options or ():
        element = option.get("DefElem", {})
        option_name, arg = element.get("defname"), element.get("arg") or {}
        if option_name == "volatility":
            value = arg.get("String", {}).get("sval")
            if value in ("immutable", "stable", "volatile"):
                function = replace(function, volatility=value)
        elif option_name == "security":
            definer = bool(arg.get("Boolean", {}).get("boolval"))
            function = replace(function, security_definer=definer)
        elif option_name == "set":
            variable = arg.get("VariableSetStmt", {})
            kind = variable.get("kind")
            if variable.get("name") == "search_path" or kind == "VAR_RESET_ALL":
                # SET ... TO DEFAULT in a function's options removes the setting
                own = kind in ("VAR_SET_VALUE", "VAR_SET_CURRENT")
                function = replace(function, own_search_path=own)
    return function


def _create_function(catalog: Catalog, fields: Node) -> None:
    schema, name = object_name(fields.get("funcname"))
    qualified = catalog.resolve(schema, name, kind="function")
    catalog.note_created(qualified, kind="function")
    function = Function(qualified, origin=catalog.origin)
    catalog.store_function(configure_function(function, fields.get("options")))


def _function_of(catalog: Catalog, node: Any) -> Function | None:
    """The function an ``ObjectWithArgs`` names, if the replay knows it."""
    schema, name = object_name((node or {}).get("objname"))
    return catalog.function(catalog.resolve(schema, name, kind="function"))


def _alter_function(catalog: Catalog, fields: Node) -> None:
    schema, name = object_name((fields.get("func") or {}).get("objname"))
    qualified = catalog.resolve(schema, name, kind="function")
    # a function from before the first migration: remember what we learn about it
    function = catalog.function(qualified) or Function(qualified, volatility=None)
    catalog.store_function(configure_function(function, fields.get("actions")))


def _move_function(catalog: Catalog, function: Function, new: QualifiedName) -> None:
    catalog.remove_function(function.name)
    catalog.note_moved(function.name, new, kind="function")
    catalog.store_function(replace(function, name=new))


def _set_variable(catalog: Catalog, fields: Node) -> None:
    kind = fields.get("kind")
    if fields.get("name") != "search_path" and kind != "VAR_RESET_ALL":
        return
    if kind in ("VAR_SET_DEFAULT", "VAR_RESET", "VAR_RESET_ALL"):
        catalog.search_path = catalog.default_search_path
        return
    if kind != "VAR_SET_VALUE":
        return
    path = []
    for arg in fields.get("args") or ():
        constant = arg.get("A_Const", {})
        value = constant.get("sval", {}).get("sval")
        if value is None:
            value = ".".join(strings(arg.get("ColumnRef", {}).get("fields"))) or None
        if value is not None:
            path.append(value)
    if path:
        catalog.search_path = tuple(path)


def _move_table(catalog: Catalog, table: Table, schema: str) -> None:
    catalog.remove_table(table.name)
    moved = QualifiedName(schema, table.name.name)
    catalog.note_moved(table.name, moved)
    catalog.move_owner(table.name, moved)
    indexes = tuple(
        replace(i, name=QualifiedName(schema, i.name.name), table=moved) for i in table.indexes
    )
    catalog.store_table(replace(table, name=moved, indexes=indexes))


def _alter_object_schema(catalog: Catalog, fields: Node) -> None:
    new_schema = fields.get("newschema")
    if fields.get("objectType") in FUNCTION_OBJECTS and new_schema:
        function = _function_of(catalog, fields.get("object", {}).get("ObjectWithArgs"))
        if function is not None:
            _move_function(catalog, function, QualifiedName(new_schema, function.name.name))
    if fields.get("objectType") == "OBJECT_SEQUENCE" and new_schema:
        schema, name = relation_name(fields.get("relation"))
        sequence = catalog.resolve(schema, name, kind="sequence")
        catalog.move_sequence(sequence, QualifiedName(new_schema, name))
    if fields.get("objectType") not in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"):
        return
    _, table = catalog.relation_of(fields.get("relation"))
    if table is not None and new_schema:
        _move_table(catalog, table, new_schema)


def _create_sequence(catalog: Catalog, fields: Node) -> None:
    schema, name = relation_name(fields.get("sequence"))
    qualified = catalog.resolve(schema, name, kind="sequence")
    if fields.get("if_not_exists") and catalog.relation_taken(qualified):
        return  # PostgreSQL skips it (with a notice) when any relation has the name
    catalog.store_sequence(qualified)
    _own_sequence(catalog, qualified, fields.get("options"))


def _alter_sequence(catalog: Catalog, fields: Node) -> None:
    schema, name = relation_name(fields.get("sequence"))
    _own_sequence(catalog, catalog.resolve(schema, name, kind="sequence"), fields.get("options"))


def _own_sequence(catalog: Catalog, sequence: QualifiedName, options: list[Any] | None) -> None:
    """``OWNED BY table.column`` (or ``OWNED BY NONE``) among ``options``."""
    for option in options or ():
        element = option.get("DefElem", {})
        if element.get("defname") != "owned_by":
            continue
        names = strings(_list_items(element.get("arg")))
        if names == ["none"]:
            catalog.own_sequence(sequence, None)
        elif len(names) >= 2:
            table_schema = names[-3] if len(names) > 2 else None
            catalog.own_sequence(sequence, catalog.resolve(table_schema, names[-2]))


_HANDLERS: dict[str, Callable[[Catalog, Node], None]] = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "SelectStmt": _select_into,
    "ViewStmt": _create_view,
    "IndexStmt": _create_index,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "DropStmt": _drop,
    "CreateSchemaStmt": _create_schema,
    "CreateEnumStmt": _create_enum,
    "AlterEnumStmt": _alter_enum,
    "CreateFunctionStmt": _create_function,
    "AlterFunctionStmt": _alter_function,
    "VariableSetStmt": _set_variable,
    "AlterObjectSchemaStmt": _alter_object_schema,
    "DoStmt": _do_block,
    "CreateSeqStmt": _create_sequence,
    "AlterSeqStmt": _alter_sequence,
}


def apply_statement(catalog: Catalog, kind: str, fields: Node) -> None:
    """Replay one statement into ``catalog``; unknown or malformed statements change
    nothing."""
    handler = _HANDLERS.get(kind)
    if handler is None:
        return
    try:
        handler(catalog, fields)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return
