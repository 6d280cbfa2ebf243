"""What the linter reports: one frozen :class:`Finding` per problem, with its span."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """How bad a finding is: ``error`` fails the run (exit 1), ``warning`` does not."""

    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One problem at one place. Lines and columns are 1-based; the end is exclusive."""

    rule: str
    severity: Severity
    message: str
    help: str
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    #: the offending statement on one line, shortened
    excerpt: str = ""
    #: ``migrate plan`` can rewrite this statement into safe phases
    plannable: bool = False
    #: facts read from a live database that this finding relied on
    facts: tuple[str, ...] = ()
    #: silenced by a ``-- migrate:lint-ignore``: the reason it gives ("" when none);
    #: ``None``: not silenced. Only SARIF shows silenced findings (as suppressed).
    suppressed: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.rule)

    def as_dict(self) -> dict[str, object]:
        """The JSON form (``--format json``)."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "help": self.help,
            "plannable": self.plannable,
            "facts": list(self.facts),
        }
