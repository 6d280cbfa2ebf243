"""The statements of a text too large to hold, walked again from its source whenever
they are asked for: a :class:`~collections.abc.Sequence` of
:class:`~migrator.sql.split.Statement` whose memory does not follow the number of
statements.

The first walk (at construction) splits and parses every statement
(:class:`~migrator.sql.split.StatementStream`) and keeps, per statement, only its kind
(two bytes), with the few things found once: syntax errors, psql meta-commands, where
pieces were joined, marked ``--`` comments. A later walk reads the text again from
``chunks()`` and only lexes it, rebuilding each statement, with its kind-only tree, as
the walk reaches it; nothing of it stays once the walk moves on. Walks that go on
where another stopped (a step's statements after the ones a ledger fingerprint covered,
statement ``i + 1`` after statement ``i``) continue a parked walk instead of starting
again, so walking the statements in order costs one pass whatever the access pattern
of the runner, resume check and linter.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import overload

from migrator.sql.lexer import LineComment
from migrator.sql.split import KnownSplit, Statement, StatementStream, SyntaxProblem

#: walks parked for a later walk to go on from (a few: each holds a chunk of text)
_PARKED = 4


class _Walk:
    """A walk of the statements, ``position`` the index of the next one."""

    def __init__(self, statements: Iterator[Statement]) -> None:
        self.position = 0
        self._statements = statements

    def next(self) -> Statement | None:
        statement = next(self._statements, None)
        if statement is not None:
            self.position += 1
        return statement


class _Walked(Sequence[Statement]):
    """Statements walked when asked for, never held: positions and slices by walking."""

    @overload
    def __getitem__(self, index: int) -> Statement: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Statement]: ...

    def __getitem__(self, index: int | slice) -> Statement | Sequence[Statement]:
        if isinstance(index, slice):
            return self._slice(*index.indices(len(self)))
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._item(position)

    def _item(self, position: int) -> Statement:
        return next(itertools.islice(self, position, None))

    def _slice(self, start: int, stop: int, step: int) -> Sequence[Statement]:
        return tuple(itertools.islice(self, start, stop, step))

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        for position, statement in enumerate(itertools.islice(self, start, stop), start):
            if statement == value:
                return position
        raise ValueError("not one of the statements")


class StatementSource(_Walked):
    """The statements of the text ``chunks()`` gives (the same text at every call)."""

    def __init__(
        self, chunks: Callable[[], Iterable[str]], *, comments: re.Pattern[str] | None = None
    ) -> None:
        self._chunks = chunks
        first = StatementStream(chunks(), comments=comments)
        names: dict[str | None, int] = {None: 0}
        kinds = array("H")
        for statement in first:
            kind = statement.tree.kind if statement.tree is not None else None
            kinds.append(names.setdefault(kind, len(names)))
        self._known = KnownSplit(kinds, tuple(names), first.joins)
        self.syntax_errors: tuple[SyntaxProblem, ...] = tuple(first.syntax_errors)
        self.meta_commands: tuple[tuple[int, str], ...] = tuple(first.meta_commands)
        #: the ``--`` comments ``comments`` matched
        self.comments: tuple[LineComment, ...] = tuple(first.comments)
        self._parked: list[_Walk] = []

    def __len__(self) -> int:
        return len(self._known.kinds)

    def _take(self, start: int) -> _Walk:
        """A walk at ``start``: the parked one nearest before it, or a new one."""
        usable = [walk for walk in self._parked if walk.position <= start]
        if usable:
            walk = max(usable, key=lambda w: w.position)
            self._parked.remove(walk)
        else:
            walk = _Walk(iter(StatementStream(self._chunks(), known=self._known)))
        while walk.position < start and walk.next() is not None:
            pass
        return walk

    def _park(self, walk: _Walk) -> None:
        if walk.position < len(self):
            self._parked.append(walk)
            if len(self._parked) > _PARKED:
                self._parked.remove(min(self._parked, key=lambda w: w.position))

    def walk(self, start: int = 0, stop: int | None = None) -> Iterator[Statement]:
        """The statements from index ``start`` up to ``stop`` (default: the last)."""
        stop = len(self) if stop is None else min(stop, len(self))
        if start >= stop:
            return
        walk = self._take(start)
        try:
            while walk.position < stop and (statement := walk.next()) is not None:
                yield statement
        finally:
            self._park(walk)

    def __iter__(self) -> Iterator[Statement]:
        return self.walk()

    def _item(self, position: int) -> Statement:
        return next(self.walk(position, position + 1))

    def _slice(self, start: int, stop: int, step: int) -> Sequence[Statement]:
        if step != 1:
            return super()._slice(start, stop, step)
        return StatementRange(self, start, max(start, stop))

    def of_kinds(self, kinds: Collection[str]) -> Iterator[Statement]:
        """The statements of one of ``kinds`` or without a tree, in order: found from
        the kinds the first walk kept, read by walking on to each (none when no
        statement is one)."""
        names = self._known.kind_names
        wanted = {code for code, name in enumerate(names) if name is None or name in kinds}
        for index, code in enumerate(self._known.kinds):
            if code in wanted:
                yield self[index]


def of_kinds(statements: Sequence[Statement], kinds: Collection[str]) -> Iterator[Statement]:
    """The statements whose kind is one of ``kinds``, or unknown (no tree): what a
    check that looks only at those kinds reads (a large file's others are not walked)."""
    if isinstance(statements, StatementSource):
        return statements.of_kinds(kinds)
    return (s for s in statements if s.tree is None or s.tree.kind in kinds)


class StatementRange(_Walked):
    """Statements ``start`` to ``stop`` (exclusive) of a :class:`StatementSource`,
    without those whose index is in ``skip``, each of ``replaced`` (by index) in place
    of the file's; walked when asked for, never held."""

    def __init__(
        self,
        source: StatementSource,
        start: int,
        stop: int,
        skip: frozenset[int] = frozenset(),
        replaced: Mapping[int, Statement] | None = None,
    ) -> None:
        self._source = source
        self._start = start
        self._stop = stop
        self._skip = frozenset(i for i in skip if start <= i < stop)
        self._replaced = dict(replaced or {})

    def __len__(self) -> int:
        return self._stop - self._start - len(self._skip)

    def __iter__(self) -> Iterator[Statement]:
        for statement in self._source.walk(self._start, self._stop):
            if statement.index not in self._skip:
                yield self._replaced.get(statement.index, statement)

    def _item(self, position: int) -> Statement:
        if self._skip or self._replaced:
            return super()._item(position)
        return self._source[self._start + position]

    def _slice(self, start: int, stop: int, step: int) -> Sequence[Statement]:
        if step != 1 or self._skip or self._replaced:
            return super()._slice(start, stop, step)
        return StatementRange(self._source, self._start + start, self._start + max(start, stop))


class ChainedStatements(_Walked):
    """Several sequences of statements as one, walked in turn."""

    def __init__(self, parts: Sequence[Sequence[Statement]]) -> None:
        self._parts = parts

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def __iter__(self) -> Iterator[Statement]:
        return itertools.chain.from_iterable(self._parts)

    def _item(self, position: int) -> Statement:
        for part in self._parts:
            if position < len(part):
                return part[position]
            position -= len(part)
        raise IndexError(position)


def statement_range(
    statements: Sequence[Statement],
    start: int,
    stop: int,
    skip: frozenset[int] = frozenset(),
    replaced: Mapping[int, Statement] | None = None,
) -> Sequence[Statement]:
    """Statements ``start`` to ``stop`` of a file's ``statements`` without those whose
    index is in ``skip``, each of ``replaced`` in place of the file's statement of its
    index: a tuple when they are held, a :class:`StatementRange` of a
    :class:`StatementSource` (nothing held)."""
    if isinstance(statements, StatementSource):
        return StatementRange(statements, start, stop, skip, replaced)
    instead = replaced or {}
    return tuple(instead.get(s.index, s) for s in statements[start:stop] if s.index not in skip)


def chained(parts: Sequence[Sequence[Statement]]) -> Sequence[Statement]:
    """``parts`` one after the other: a tuple when they are held, else a view."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(part, tuple) for part in parts):
        return tuple(itertools.chain.from_iterable(parts))
    return ChainedStatements(parts)
