"""What differs between two schemas, as lines a reviewer can read.

``diff_schemas(before, after)`` is pure: ``table accounts: column region added``,
``index users_email_idx: now INVALID``, ``table accounts: column id: type changed from
integer to bigint``. An empty result means the schemas are the same.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from migrator.schema.model import Schema, SchemaObject, display_name

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
            if self.after == "yes":  # a flag only recorded when it is set
                return f"{self.subject}: {self.attribute} turned on"
            return f"{self.subject}: {self.attribute} {_shown(self.after)} added"
        if self.after is None:
            if self.before == "yes":
                return f"{self.subject}: {self.attribute} turned off"
            return f"{self.subject}: {self.attribute} {_shown(self.before)} removed"
        if self.attribute in _LONG_ATTRIBUTES or "\n" in self.before + self.after:
            difference = _first_difference(self.before, self.after)
            return f"{self.subject}: {self.attribute} changed ({difference})"
        return (
            f"{self.subject}: {self.attribute} changed from "
            f"{_shown(self.before)} to {_shown(self.after)}"
        )


def _shown(value: str | None) -> str:
    text = " ".join((value or "").split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _first_difference(before: str, after: str) -> str:
    """The first block of lines that differs: ``was: X; now: Y``, ``line added: Y``
    or ``line removed: X`` (lines are matched as a diff does, not by position)."""
    old_lines = [line.strip() for line in before.splitlines()] or [""]
    new_lines = [line.strip() for line in after.splitlines()] or [""]
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, old_start, _, new_start, _ in matcher.get_opcodes():
        if tag == "insert":
            return f"line added: {_shown(new_lines[new_start])}"
        if tag == "delete":
            return f"line removed: {_shown(old_lines[old_start])}"
        if tag == "replace":
            return f"was: {_shown(old_lines[old_start])}; now: {_shown(new_lines[new_start])}"
    return f"was: {_shown(before)}; now: {_shown(after)}"


def _presence(obj: SchemaObject) -> str:
    """How an added or removed object is named: a grant says what it grants."""
    if obj.kind != "grant" or obj.parent is None:
        return obj.describe()
    kind, name = obj.parent
    privileges = obj.attribute("privileges") or "none"
    grantee = obj.label.removeprefix("to ")
    if privileges == "none":
        return f"{kind} {display_name(name)}: revoke of every privilege from {grantee}"
    return f"{kind} {display_name(name)}: grant {privileges} to {grantee}"


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
    if before.objects == after.objects:  # the common case, and cheap
        return ()
    old_objects, new_objects = before.by_key(), after.by_key()
    gone = old_objects.keys() - new_objects.keys()
    new = new_objects.keys() - old_objects.keys()
    changes: list[Change] = []
    for key, obj in old_objects.items():
        if key in gone and obj.parent not in gone:
            changes.append(Change(obj.kind, obj.name, "removed", _presence(obj)))
    for key, obj in new_objects.items():
        if key in new:
            if obj.parent not in new:
                changes.append(Change(obj.kind, obj.name, "added", _presence(obj)))
            continue
        old = old_objects[key]
        if old is not obj and old.attributes != obj.attributes:
            changes.extend(_attribute_changes(old, obj))
    return tuple(changes)


def diff_lines(before: Schema, after: Schema) -> list[str]:
    """:func:`diff_schemas` as text lines."""
    return [change.line() for change in diff_schemas(before, after)]


def _moved_columns(positions: list[tuple[str, int, int]]) -> list[str]:
    """Of ``(column, position before, position after)``, the columns that changed
    places, not those that only shifted with them: the ones outside the longest
    run of columns whose order both sides agree on."""
    by_before = sorted(positions, key=lambda item: item[1])
    after_rank = [item[2] for item in by_before]
    # longest increasing subsequence of the after-positions (columns are few)
    best: list[list[int]] = []  # best[i]: the longest such run ending at column i
    for index, rank in enumerate(after_rank):
        longest: list[int] = []
        for run in best:
            if after_rank[run[-1]] < rank and len(run) > len(longest):
                longest = run
        best.append([*longest, index])
    longest_run: list[int] = max(best, key=len) if best else []
    kept = set(longest_run)
    return [by_before[index][0] for index in range(len(by_before)) if index not in kept]


def round_trip_differences(before: Schema, after: Schema) -> tuple[list[str], list[str]]:
    """What a down failed to restore, and apart from it, notes on tables whose
    columns are all back but in another order: a down that adds back a column the up
    dropped puts it last, and PostgreSQL cannot move a column, so no down could do
    better (``migrate schema verify`` still compares positions)."""
    differences: list[str] = []
    moved: dict[str, list[tuple[str, int, int]]] = {}
    for change in diff_schemas(before, after):
        table, separator, column = change.subject.partition(": column ")
        if change.attribute == "position" and separator and change.before and change.after:
            moved.setdefault(table, []).append((column, int(change.before), int(change.after)))
        else:
            differences.append(change.line())
    notes = [
        f"{table}: column order differs after down ({', '.join(_moved_columns(columns))} "
        "moved; a column added back goes last, and PostgreSQL cannot move it)"
        for table, columns in moved.items()
    ]
    return differences, notes
