"""A lint rule: an id, a default severity, the statement kinds it looks at, and a check.

Rules are plain functions decorated with :func:`rule`; the function's docstring is the
rule's documentation (sections *What it does*, *Why it hurts*, *Example*, *Use
instead*, *PostgreSQL versions*), printed by ``migrate rules ID`` and rendered into
``docs/rules/<id>.md``. Registration is explicit: see :mod:`migrator.lint.registry`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from migrator.lint.findings import Severity

if TYPE_CHECKING:
    from migrator.lint.context import StatementContext

SECTIONS = ("What it does", "Why it hurts", "Example", "Use instead", "PostgreSQL versions")


# named tuples: cheaper to create at import than frozen dataclasses
class Hit(NamedTuple):
    """What a check reports; the engine adds the rule, severity and position."""

    message: str
    help: str = ""
    #: facts from the live database that the hit relied on
    facts: tuple[str, ...] = ()
    #: false when ``migrate plan`` cannot rewrite this hit although the rule is plannable
    plannable: bool = True


Check = Callable[["StatementContext"], Iterable[Hit]]


class Rule(NamedTuple):
    """A registered rule."""

    id: str
    severity: Severity
    family: str
    #: statement kinds (``IndexStmt``) the check is called for; ``"*"``: every statement;
    #: empty: never called (the finding comes from the source layer or the engine)
    kinds: frozenset[str]
    check: Check
    doc: str
    #: ``migrate plan FILE`` can rewrite what this rule flags
    plannable: bool = False

    @property
    def summary(self) -> str:
        """The first line of the documentation."""
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def section(self, title: str) -> str:
        """The text of one documentation section (without its heading)."""
        return sections(self.doc).get(title, "")


def sections(doc: str) -> dict[str, str]:
    """Split a rule docstring into its titled sections (``Title:`` on its own line)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        if stripped.rstrip(":") in SECTIONS and stripped.endswith(":"):
            current = found.setdefault(stripped.rstrip(":"), [])
            continue
        if current is not None:
            current.append(line)
    return {title: "\n".join(lines).strip("\n") for title, lines in found.items()}


def code_blocks(section_text: str) -> list[str]:
    """The indented SQL blocks of a section (each block: consecutive indented lines)."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in section_text.splitlines():
        if line.startswith("    ") or (current and not line.strip()):
            current.append(line[4:])
        else:
            if any(part.strip() for part in current):
                blocks.append(current)
            current = []
    if any(part.strip() for part in current):
        blocks.append(current)
    return ["\n".join(block).strip() + "\n" for block in blocks]


def rule(
    rule_id: str,
    severity: Severity,
    *,
    kinds: Iterable[str] = (),
    plannable: bool = False,
) -> Callable[[Check], Rule]:
    """Make a :class:`Rule` of a check function; its docstring is the documentation."""

    def wrap(check: Check) -> Rule:
        module = check.__module__.rsplit(".", 1)[-1]
        return Rule(
            id=rule_id,
            severity=severity,
            family=module,
            kinds=frozenset(kinds),
            check=check,
            doc=inspect.cleandoc(check.__doc__ or ""),
            plannable=plannable,
        )

    return wrap


def no_hits(_: StatementContext) -> Iterator[Hit]:
    """The check of rules whose findings come from the source layer or the engine."""
    return iter(())
