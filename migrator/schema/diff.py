"""What differs between two schemas, as lines a reviewer can read.

``diff_schemas(before, after)`` is pure: ``table accounts: column region added``,
``index users_email_idx: now INVALID``, ``table accounts: column id: type changed from
integer to bigint``. An empty result means the schemas are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrator.schema.model import Schema, SchemaObject

#: Attributes whose values are long SQL texts: shown by their first differing line.
_LONG_ATTRIBUTES = frozenset({"definition", "body", "text", "using", "with check"})
_MAX_SHOWN = 120


@dataclass(frozen=True)
class Change:
    """One difference. ``what`` is ``added``, ``removed`` or ``changed`` (then
    ``attribute``, ``before`` and ``after`` say how)."""

    kind: str
    name: str
    what: str
    subject: str
    attribute: str | None = None
    before: str | None = None
    after: str | None = None

    def line(self) -> str:
        if self.what != "changed":
            return f"{self.subject} {self.what}"
        assert self.attribute is not None
        if self.attribute == "valid":
            return f"{self.subject}: now {'VALID' if self.after == 'yes' else 'INVALID'}"
        if self.before is None:
            return f"{self.subject}: {self.attribute} {_shown(self.after)} added"
        if self.after is None:
            return f"{self.subject}: {self.attribute} {_shown(self.before)} removed"
        if self.attribute in _LONG_ATTRIBUTES or "\n" in self.before + self.after:
            was, now = _first_difference(self.before, self.after)
            return f"{self.subject}: {self.attribute} changed (was: {was}; now: {now})"
        return (
            f"{self.subject}: {self.attribute} changed from "
            f"{_shown(self.before)} to {_shown(self.after)}"
        )


def _shown(value: str | None) -> str:
    text = " ".join((value or "").split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _first_difference(before: str, after: str) -> tuple[str, str]:
    old_lines, new_lines = before.splitlines() or [""], after.splitlines() or [""]
    for index in range(max(len(old_lines), len(new_lines))):
        old = old_lines[index] if index < len(old_lines) else "<end>"
        new = new_lines[index] if index < len(new_lines) else "<end>"
        if old.strip() != new.strip():
            return _shown(old), _shown(new)
    return _shown(before), _shown(after)


def _attribute_changes(old: SchemaObject, new: SchemaObject) -> list[Change]:
    before, after = dict(old.attributes), dict(new.attributes)
    changes = []
    for attribute in sorted(set(before) | set(after)):
        if before.get(attribute) != after.get(attribute):
            changes.append(
                Change(
                    new.kind,
                    new.name,
                    "changed",
                    new.describe(),
                    attribute,
                    before.get(attribute),
                    after.get(attribute),
                )
            )
    return changes


def diff_schemas(before: Schema, after: Schema) -> tuple[Change, ...]:
    """Every difference from ``before`` to ``after``, in schema order.

    Objects that belong to an added or removed parent are folded into it: dropping a
    table is one line, not one per column.
    """
    changes: list[Change] = []
    gone = {obj.key for obj in before if after.get(*obj.key) is None}
    new = {obj.key for obj in after if before.get(*obj.key) is None}
    for obj in before:
        if obj.key in gone and obj.parent not in gone:
            changes.append(Change(obj.kind, obj.name, "removed", obj.describe()))
    for obj in after:
        if obj.key in new:
            if obj.parent not in new:
                changes.append(Change(obj.kind, obj.name, "added", obj.describe()))
            continue
        old = before.get(*obj.key)
        if old is not None and old.attributes != obj.attributes:
            changes.extend(_attribute_changes(old, obj))
    return tuple(changes)


def diff_lines(before: Schema, after: Schema) -> list[str]:
    """:func:`diff_schemas` as text lines."""
    return [change.line() for change in diff_schemas(before, after)]
