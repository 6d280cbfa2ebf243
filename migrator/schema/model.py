"""The schema of a database as comparable values.

A :class:`Schema` is a sorted collection of :class:`SchemaObject`: one per table,
column, constraint, index, view, function, grant, comment, ... Each object has a kind,
a qualified identity, the object it belongs to (a column belongs to its table) and its
attributes as sorted ``(name, text)`` pairs. Two schemas read from the catalog compare
equal exactly when nothing a migration can change differs; :mod:`migrator.schema.diff`
says what differs in readable lines.

Nothing here talks to PostgreSQL: :mod:`migrator.schema.introspect` builds these values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

#: Kinds in the order a reader expects them (containers before their contents).
KIND_ORDER: tuple[str, ...] = (
    "role",
    "schema",
    "extension",
    "type",
    "domain",
    "sequence",
    "table",
    "partitioned table",
    "foreign table",
    "column",
    "constraint",
    "index",
    "view",
    "materialized view",
    "function",
    "procedure",
    "aggregate",
    "trigger",
    "event trigger",
    "rule",
    "publication",
    "policy",
    "statistics",
    "grant",
    "default privileges",
    "comment",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}


def display_name(qualified: str) -> str:
    """``public.accounts`` -> ``accounts``: the public schema goes without saying."""
    return qualified[len("public.") :] if qualified.startswith("public.") else qualified


@dataclass(frozen=True)
class SchemaObject:
    """One object of the schema.

    ``name`` identifies it within its kind (``public.accounts``, ``public.accounts.id``,
    ``public.f(integer)``); ``parent`` is the owning object as ``(kind, name)`` when it
    has one (columns, constraints, indexes, triggers, policies belong to a table);
    ``label`` is how it is called inside its parent (``id``).
    """

    kind: str
    name: str
    attributes: tuple[tuple[str, str], ...] = ()
    parent: tuple[str, str] | None = None
    label: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None

    def describe(self) -> str:
        """``table accounts: column region`` / ``index accounts_pkey``."""
        own = f"{self.kind} {self.label or display_name(self.name)}"
        if self.parent is None:
            return own
        kind, name = self.parent
        return f"{kind} {display_name(name)}: {own}"


def make_object(
    kind: str,
    name: str,
    attributes: Mapping[str, object | None],
    *,
    parent: tuple[str, str] | None = None,
    label: str = "",
) -> SchemaObject:
    """A :class:`SchemaObject` with attributes normalised to sorted text (``None``
    attributes are left out, booleans become ``yes``/``no``)."""
    items: list[tuple[str, str]] = []
    for key, value in attributes.items():
        if value is None:
            continue
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        items.append((key, text))
    return SchemaObject(kind, name, tuple(sorted(items)), parent, label)


def _sort_key(key: tuple[str, str]) -> tuple[int, str, str]:
    kind, name = key
    return (_KIND_RANK.get(kind, len(KIND_ORDER)), name, kind)


@dataclass(frozen=True)
class Schema:
    """Every object of a database's schema, in a stable order."""

    objects: tuple[SchemaObject, ...] = ()
    _index: Mapping[tuple[str, str], SchemaObject] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, objects: Iterable[SchemaObject]) -> Schema:
        unique = {(obj.kind, obj.name): obj for obj in objects}
        index = {key: unique[key] for key in sorted(unique, key=_sort_key)}
        return cls(tuple(index.values()), index)

    def by_key(self) -> Mapping[tuple[str, str], SchemaObject]:
        """Every object by ``(kind, name)``, in schema order."""
        return self._index

    def __iter__(self) -> Iterator[SchemaObject]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get(self, kind: str, name: str) -> SchemaObject | None:
        return self._index.get((kind, name))

    def of_kind(self, kind: str) -> tuple[SchemaObject, ...]:
        return tuple(obj for obj in self.objects if obj.kind == kind)

    def without_kinds(self, kinds: Iterable[str]) -> Schema:
        dropped = set(kinds)
        return Schema.of(obj for obj in self.objects if obj.kind not in dropped)

    def to_json(self) -> list[dict[str, object]]:
        """A JSON-ready list (for ``--format json`` and debugging)."""
        return [
            {
                "kind": obj.kind,
                "name": obj.name,
                **({"parent": list(obj.parent)} if obj.parent else {}),
                "attributes": dict(obj.attributes),
            }
            for obj in self.objects
        ]
