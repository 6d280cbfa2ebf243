"""``-- migrate:`` directives: where they may stand and what they mean.

Header directives (``no-transaction``, ``lock-timeout``, ``statement-timeout``,
``phase``, ``backfill``) belong before the first statement. ``lint-ignore`` may stand
anywhere (it applies to the next statement, or to the statement it ends), and
``lint-ignore-file`` anywhere. Any other ``-- migrate:`` word is an error: a typo must
never be ignored silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from migrator.durations import parse_timeout_ms
from migrator.errors import UsageError
from migrator.source.model import PHASES, Directives, FileProblem, LintIgnore
from migrator.sql.parse import skip_comments
from migrator.sql.split import LineIndex, SplitResult, StatementTokens
from migrator.sql.statement_source import StatementSource

HEADERDIRECTIVES = ("no-transaction", "lock-timeout", "statement-timeout", "phase", "backfill")
ANYWHEREDIRECTIVES = ("lint-ignore", "lint-ignore-file")
KNOWNDIRECTIVES = HEADERDIRECTIVES + ANYWHEREDIRECTIVES

#: a directive comment; the case is checked afterwards, so that ``-- Migrate:`` is
#: reported instead of being taken for a plain comment
DIRECTIVE = re.compile(r"--[ \t]*(migrate:[A-Za-z0-9_-]*)[ \t]*([^\n]*)", re.IGNORECASE)
_FOREIGN_FORMATS = {
    "up": "this is dbmate's one-file format: read the directory with --layout dbmate "
    '(or layout = "dbmate" in [tool.migrator])',
    "down": "this is dbmate's one-file format: read the directory with --layout dbmate "
    '(or layout = "dbmate" in [tool.migrator])',
    "transaction": "write -- migrate:no-transaction to run outside a transaction",
}


@dataclass(frozen=True)
class RawDirective:
    name: str
    argument: str
    offset: int
    line: int
    column: int
    #: ``migrate:<name>`` as written
    written: str = ""


def find_directives(
    text: str, split: Callable[[], SplitResult]
) -> tuple[list[RawDirective], int | None]:
    """Every ``-- migrate:`` comment that is really a comment (not inside a string), and
    the offset of the first statement (``None``: the text holds none).

    ``split`` is asked for the statements only when a directive stands after the
    header (the comments before the first statement): reading the directives of a
    usual file parses no SQL.
    """
    matches = list(DIRECTIVE.finditer(text))
    if not matches:
        return [], None
    header: list[int] = []
    header_end = skip_comments(text, 0, len(text), semicolons=True, line_comments=header)
    if header_end < len(text) and matches[-1].start() < header_end:
        first: int | None = header_end
        comments = set(header)

        def is_comment(offset: int) -> bool:
            return offset in comments

    else:
        statements = split().statements
        first = statements[0].start if statements else None
        tokens = StatementTokens(text, [(s.start, s.end) for s in statements])

        def is_comment(offset: int) -> bool:
            # an unscannable statement (unterminated string): trust the line's shape
            return tokens.token_at(offset) in ("SQL_COMMENT", None)

    index = LineIndex(text)
    found = []
    for match in matches:
        offset = match.start()
        if not is_comment(offset):
            continue
        position = index.position(offset)
        written = match.group(1)
        found.append(
            RawDirective(
                written.split(":", 1)[1],
                match.group(2).strip(),
                offset,
                position.line,
                position.column,
                written,
            )
        )
    return found, first


def streamed_directives(split: SplitResult) -> tuple[list[RawDirective], int | None]:
    """:func:`find_directives` of a file split as a stream
    (:class:`~migrator.sql.statement_source.StatementSource`, made with
    :data:`DIRECTIVE` as its comment pattern): its lexer found the ``--`` comments
    outside strings, quoted names, dollar quotes and block comments as it went."""
    statements = split.statements
    comments = statements.comments if isinstance(statements, StatementSource) else ()
    found = []
    for comment in comments:
        match = DIRECTIVE.match(comment.text)
        if match is None:  # cannot happen: the lexer matched the same pattern
            continue
        written = match.group(1)
        found.append(
            RawDirective(
                written.split(":", 1)[1],
                match.group(2).strip(),
                comment.offset,
                comment.line,
                comment.column,
                written,
            )
        )
    if not found:
        return [], None
    return found, (statements[0].start if statements else None)


def _split_reason(argument: str) -> tuple[str, str | None]:
    if "--" in argument:
        rules, reason = argument.split("--", 1)
        return rules.strip(), reason.strip() or None
    return argument.strip(), None


def parse_directives(
    text: str | None, split: Callable[[], SplitResult]
) -> tuple[Directives, list[FileProblem]]:
    """Read the directives of a file; the header ends at its first statement
    (``split()`` gives the statements; it is called only when needed). Without
    ``text`` (a large file, never held whole), the directives are the comments the
    split's lexer found (:func:`streamed_directives`)."""
    directives = Directives()
    problems: list[FileProblem] = []
    ignores: list[LintIgnore] = []
    seen: set[str] = set()
    found, first_statement_offset = (
        streamed_directives(split()) if text is None else find_directives(text, split)
    )
    if not found:
        return directives, problems
    for raw in found:

        def problem(
            code: str, message: str, hint: str | None = None, raw: RawDirective = raw
        ) -> None:
            problems.append(FileProblem(code, message, raw.line, raw.column, hint))

        if raw.written != raw.written.lower():
            problem(
                "invalid-directive",
                f"-- {raw.written} is not spelled as a directive",
                f"directives are lower-case: write -- {raw.written.lower()}",
            )
            continue
        if raw.name not in KNOWNDIRECTIVES:
            hint = _FOREIGN_FORMATS.get(raw.name, "known directives: " + ", ".join(KNOWNDIRECTIVES))
            problem("unknown-directive", f"unknown directive -- migrate:{raw.name}", hint)
            continue
        in_header = first_statement_offset is None or raw.offset < first_statement_offset
        if raw.name in HEADERDIRECTIVES:
            if not in_header:
                problem(
                    "misplaced-directive",
                    f"-- migrate:{raw.name} must stand before the first statement",
                    "move it to the top of the file",
                )
                continue
            if raw.name in seen:
                problem("invalid-directive", f"-- migrate:{raw.name} is given twice")
                continue
            seen.add(raw.name)
        try:
            directives = _apply(directives, raw, ignores)
        except UsageError as exc:
            problem("invalid-directive", exc.message, exc.hint)
    return replace(directives, lint_ignores=tuple(ignores)), problems


def _apply(directives: Directives, raw: RawDirective, ignores: list[LintIgnore]) -> Directives:
    name, argument = raw.name, raw.argument
    if name == "no-transaction":
        if argument:
            raise UsageError(f"-- migrate:no-transaction takes no argument (got {argument!r})")
        return replace(directives, transactional=False)
    if name in ("lock-timeout", "statement-timeout"):
        if not argument:
            raise UsageError(f"-- migrate:{name} needs a duration", hint="for example 5s")
        ms = parse_timeout_ms(argument, what=f"-- migrate:{name}")
        if name == "lock-timeout":
            return replace(directives, lock_timeout_ms=ms)
        return replace(directives, statement_timeout_ms=ms)
    if name == "phase":
        if argument not in PHASES:
            raise UsageError(
                f"-- migrate:phase {argument!r} is not a phase",
                hint="use expand, backfill or contract",
            )
        phase = next(p for p in PHASES if p == argument)
        return replace(directives, phase=phase)
    if name == "backfill":
        if not argument:
            raise UsageError("-- migrate:backfill needs its options", hint="see docs/backfill.md")
        return replace(directives, backfill=argument, backfill_line=raw.line)
    rules_text, reason = _split_reason(argument)
    rules = tuple(rule.strip() for rule in rules_text.split(",") if rule.strip())
    if not rules:
        raise UsageError(f"-- migrate:{name} needs at least one rule id")
    ignores.append(
        LintIgnore(raw.line, raw.column, rules, reason, whole_file=name == "lint-ignore-file")
    )
    return directives
