"""Lint migration files: replay the directory into a catalog, run the rules on each
statement of each requested file, apply suppressions, return findings.

The engine never raises on file contents: statements that do not parse become
``syntax-error`` findings and the rest of the file is still linted; a rule that fails
on an odd tree is recorded in :attr:`LintReport.internal_errors` and skipped.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from migrator.lint.context import FileState, StatementContext, unknown_note
from migrator.lint.findings import Finding, Severity
from migrator.lint.live import LiveFacts
from migrator.lint.options import LintOptions
from migrator.lint.registry import RULE_IDS, RULES, RULES_BY_ID, UNSUPPRESSIBLE
from migrator.lint.rule import Hit, Rule
from migrator.source.discovery import unclosed_block
from migrator.source.model import FileProblem, LintIgnore, MigrationFile
from migrator.sql.catalog import Catalog
from migrator.sql.file_replay import Replay
from migrator.sql.locks import Lock, statement_locks
from migrator.sql.names import QualifiedName, object_name
from migrator.sql.parse import ParsedStatement
from migrator.sql.replay import may_select_into
from migrator.sql.split import Statement
from migrator.sql.tree import set_config_calls

#: source-layer problem codes -> rule ids
PROBLEM_RULES = {
    "syntax-error": "syntax-error",
    "psql-meta-command": "psql-meta-command",
    "copy-from-stdin": "psql-meta-command",
    "unknown-directive": "invalid-directive",
    "invalid-directive": "invalid-directive",
    "misplaced-directive": "invalid-directive",
    "transaction-control": "transaction-control",
    "invalid-backfill": "invalid-directive",
}


@dataclass
class LintReport:
    """Findings of a run, sorted by file and position."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    #: rules that failed on some statement (a linter bug, never the user's fault)
    internal_errors: list[str] = field(default_factory=list)
    #: what came from a live database (``--database-url``)
    live_facts: list[str] = field(default_factory=list)
    options: LintOptions = field(default_factory=LintOptions)

    #: findings a ``-- migrate:lint-ignore`` silenced (reported by SARIF only)
    suppressed: list[Finding] = field(default_factory=list)

    def add(self, findings: Iterable[Finding]) -> None:
        """Take a file's findings: the silenced ones go to :attr:`suppressed`."""
        for finding in findings:
            (self.findings if finding.suppressed is None else self.suppressed).append(finding)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)


class _Dispatch:
    """The enabled rules that look at each statement kind, in registry order (rules of
    ``"*"`` after the kind's own), built once per run."""

    def __init__(self, options: LintOptions) -> None:
        self._by_kind: dict[str, list[Rule]] = {}
        self._everywhere: tuple[Rule, ...] = ()
        everywhere: list[Rule] = []
        for rule in RULES:
            if rule.id in options.disabled:
                continue
            if "*" in rule.kinds:
                everywhere.append(rule)
            for kind in rule.kinds - {"*"}:
                self._by_kind.setdefault(kind, []).append(rule)
        self._everywhere = tuple(everywhere)
        self._cache: dict[str, tuple[Rule, ...]] = {}

    def rules_for(self, kind: str) -> tuple[Rule, ...]:
        rules = self._cache.get(kind)
        if rules is None:
            rules = (*self._by_kind.get(kind, ()), *self._everywhere)
            self._cache[kind] = rules
        return rules


class FileLinter:
    """Lints one file against a catalog, replaying the file into it as it goes."""

    def __init__(
        self,
        options: LintOptions,
        facts: LiveFacts | None = None,
        report: LintReport | None = None,
    ) -> None:
        self.options = options
        self.facts = facts
        self.report = report if report is not None else LintReport(options=options)
        self._dispatch = _Dispatch(options)

    def lint(
        self,
        file: MigrationFile,
        catalog: Catalog,
        unit: str,
        *,
        also_new: Iterable[str] = (),
        display: str | None = None,
        unknown_tables_new: bool = False,
    ) -> list[Finding]:
        """Findings of ``file``; ``catalog`` ends up holding the file's changes. With
        ``unknown_tables_new`` (a down file whose up is not in reach) the tables the
        catalog does not know count as new."""
        path = display or str(file.path)
        replay = Replay(catalog)
        replay.begin_file(unit, transactional=file.transactional, also_new=also_new)
        statements = file.statements
        # a held file's trees are parsed once, up front (the rules' look-ahead reads
        # them again); a large file's are parsed as the walk reaches each statement
        # and looked ahead at by walking on (nothing per statement is kept)
        parsed = [_parse(s) for s in statements] if isinstance(statements, tuple) else None
        unparsed: list[Statement] = []
        state = FileState(
            transactional=file.transactional,
            lock_timeout=_initial_lock_timeout(file, self.options),
            unknown_tables_new=unknown_tables_new,
        )
        raw: list[tuple[int | None, Finding]] = []
        rules_for = self._dispatch.rules_for
        for index, statement in enumerate(statements):
            tree = _parse(statement) if parsed is None else parsed[index]
            if tree is None:
                unparsed.append(statement)
                continue
            kind, fields = tree
            if state.enum_values_added and (
                not fields or kind in _RELATION_ONLY or kind in _KIND_ONLY
            ):
                # a new enum value may be used here: the whole tree is wanted
                tree = _full_tree(statement)
                if tree is None:
                    continue
                kind, fields = tree
                if parsed is not None:
                    parsed[index] = tree

            ctx = StatementContext(
                kind,
                fields,
                statement,
                catalog,
                state,
                self.options,
                file,
                self.facts,
                later_statements=partial(_as_parsed, statements, parsed, index + 1),
                position=index,
            )
            for rule in rules_for(kind):
                ctx.unknowns = []  # what this rule judges without the replay knowing it
                try:
                    hits = list(rule.check(ctx))
                except Exception as exc:  # a rule bug must not stop the run: record, go on
                    self._rule_failed(rule, ctx, path, exc)
                    continue
                if hits and ctx.unknowns:
                    hits = _say_when_unknown(hits, ctx.unknowns)
                for hit in hits:
                    raw.append((index, self._finding(rule, hit, path, statement)))
            _advance(ctx, replay)
        for index, rule_id, check, unknowns in state.deferred:  # the whole file replayed
            rule = RULES_BY_ID[rule_id]
            try:
                hits = list(check(catalog))
            except Exception as exc:  # a rule bug must not stop the run
                self.report.internal_errors.append(f"{path}: rule {rule_id} failed ({exc})")
                continue
            if hits and unknowns:
                hits = _say_when_unknown(hits, unknowns)
            for hit in hits:
                raw.append((index, self._finding(rule, hit, path, statements[index])))
        if unparsed:
            self._note_unparsed(file, unparsed, path)
        problems = file.problems if file.transactional else (*file.problems, *unclosed_block(file))
        if file.directives.backfill is not None:  # its parser loads only when a file has one
            from migrator.source.backfill import backfill_problems

            problems = (*problems, *backfill_problems(file))
        lines = file.line_texts(
            {p.line for p in problems} | {i.line for i in file.directives.lint_ignores}
        )
        for problem in problems:
            problem_rule = PROBLEM_RULES.get(problem.code)
            if problem_rule and problem_rule not in self.options.disabled:
                line_text = lines.get(problem.line, "")
                raw.append((None, self._problem_finding(problem_rule, problem, path, line_text)))
        findings = self._suppress(file, raw, path, lines)
        findings.sort(key=Finding.sort_key)
        self.report.add(findings)
        self.report.files += 1
        return [finding for finding in findings if finding.suppressed is None]

    def _note_unparsed(self, file: MigrationFile, unparsed: list[Statement], path: str) -> None:
        """Say which statements no rule could check although they are not syntax
        errors or file problems reported already, such as a psql meta-command (pglast
        cannot give the tree of a statement nested too deeply)."""
        syntax_lines = {p.line for p in file.problems}
        for statement in unparsed:
            if not any(statement.line <= line <= statement.end_line for line in syntax_lines):
                self.report.internal_errors.append(
                    f"{path}:{statement.line}: this statement is nested too deeply for the "
                    "parser to give its tree; no rule checked it"
                )

    def _rule_failed(self, rule: Rule, ctx: StatementContext, path: str, exc: Exception) -> None:
        self.report.internal_errors.append(
            f"{path}:{ctx.statement.line}: rule {rule.id} failed ({type(exc).__name__}: "
            f"{exc}); please report this"
        )

    def _finding(self, rule: Rule, hit: Hit, path: str, statement: Statement) -> Finding:
        help_text = hit.help
        plannable = rule.plannable and hit.plannable
        if plannable:
            help_text = f"{help_text}; or run: migrate plan {path}"
        return Finding(
            rule=rule.id,
            severity=self.options.severity_of(rule.id, rule.severity),
            message=hit.message,
            help=help_text,
            file=path,
            line=statement.line,
            column=statement.column,
            end_line=statement.end_line,
            end_column=statement.end_column,
            excerpt=statement.excerpt(80),
            plannable=plannable,
            facts=hit.facts,
        )

    def _problem_finding(
        self, rule_id: str, problem: FileProblem, path: str, line_text: str
    ) -> Finding:
        rule = RULES_BY_ID[rule_id]
        return Finding(
            rule=rule_id,
            severity=self.options.severity_of(rule_id, rule.severity),
            message=problem.message,
            help=problem.hint or _PROBLEM_HELP.get(rule_id, ""),
            file=path,
            line=problem.line,
            column=problem.column,
            end_line=problem.line,
            end_column=max(problem.column + 1, len(line_text) + 1),
            excerpt=" ".join(line_text.split())[:80],
        )

    def _suppress(
        self,
        file: MigrationFile,
        raw: list[tuple[int | None, Finding]],
        path: str,
        lines: dict[int, str],
    ) -> list[Finding]:
        #: rule -> the reason of the lint-ignore that silences it
        whole_file: dict[str, str] = {}
        #: line of a lint-ignore -> the rules it silences (and why)
        by_line: dict[int, dict[str, str]] = {}
        kept: list[Finding] = []
        for ignore in file.directives.lint_ignores:
            known = {r: ignore.reason or "" for r in ignore.rules if r in RULE_IDS}
            for unknown in (r for r in ignore.rules if r not in RULE_IDS):
                kept.append(
                    self._invalid_suppression(ignore, unknown, path, lines.get(ignore.line, ""))
                )
            if ignore.whole_file:
                whole_file.update(known)
            else:
                by_line.setdefault(ignore.line, {}).update(known)
        wanted = {
            finding.line
            for index, finding in raw
            if index is None and finding.rule not in UNSUPPRESSIBLE
        }
        targets, at_line = _statements_of_lines(file.statements, sorted(by_line), sorted(wanted))
        per_statement: dict[int, dict[str, str]] = {}
        for line, target in targets.items():
            per_statement.setdefault(target, {}).update(by_line[line])
        for index, finding in raw:
            reason: str | None = None
            if finding.rule not in UNSUPPRESSIBLE:
                if index is None:
                    index = at_line.get(finding.line)
                silencing = per_statement.get(index, {}) if index is not None else {}
                reason = whole_file.get(finding.rule, silencing.get(finding.rule))
            kept.append(finding if reason is None else replace(finding, suppressed=reason))
        return kept

    def _invalid_suppression(
        self, ignore: LintIgnore, unknown: str, path: str, line_text: str
    ) -> Finding:
        rule = RULES_BY_ID["invalid-suppression"]
        directive = "lint-ignore-file" if ignore.whole_file else "lint-ignore"
        return Finding(
            rule=rule.id,
            severity=self.options.severity_of(rule.id, rule.severity),
            message=f"-- migrate:{directive} names unknown rule {unknown!r}: it silences nothing",
            help="fix the rule id (see `migrate rules` for the list)",
            file=path,
            line=ignore.line,
            column=ignore.column,
            end_line=ignore.line,
            end_column=len(line_text) + 1,
            excerpt=" ".join(line_text.split())[:80],
        )


def _say_when_unknown(hits: list[Hit], unknowns: list[str]) -> list[Hit]:
    """A finding whose rule judged an object the replayed migrations never created
    (a table, view, index, function, type, schema or column) says so, and how it was
    judged (:meth:`StatementContext.note_unknown`)."""
    note = " (" + "; ".join(unknowns) + ")"
    return [hit._replace(message=hit.message + note) for hit in hits]


_PROBLEM_HELP = {
    "syntax-error": "fix the statement; the rest of the file was still linted",
    "psql-meta-command": "write plain SQL; migrations are not run through psql",
    "invalid-directive": "see docs/lint.md for the directives",
}


#: statements no rule looks inside (only their kind matters): their trees are not
#: decoded (parsing or decoding their often large trees would be wasted)
_KIND_ONLY = frozenset({"SelectStmt", "InsertStmt", "CommentStmt"})
_KIND_ONLY_WORDS = {"select": "SelectStmt", "insert": "InsertStmt", "comment": "CommentStmt"}
#: statements whose rules only look at the table they change: only ``relation`` is
#: decoded (not the ``SET`` list, ``WHERE`` or ``USING`` of an ``UPDATE``/``DELETE``)
_RELATION_ONLY = frozenset({"UpdateStmt", "DeleteStmt"})
#: a pattern few runs need: compiled when first used (``re`` caches it)
_FIRST_WORD = r"[A-Za-z]+"


def _parse(statement: Statement) -> tuple[str, dict[str, object]] | None:
    """The statement's ``(kind, fields)``; ``(kind, {})`` for kinds no rule inspects
    (INSERT, SELECT, COMMENT), only ``relation`` for UPDATE and DELETE. A view's query
    is left out."""
    tree = statement.tree
    if tree is not None:
        if (
            tree.kind == "InsertStmt"
            and _INSERT_SELECT.search(statement.text)
            and not _insert_needs_clauses(statement.text)
        ):
            # INSERT ... SELECT: the target only (unbatched-backfill decodes the rest
            # when the target or a lock makes the copy matter)
            head = tree.leading_field("relation")
            if head is not None:
                return tree.kind, head
        if (tree.kind == "SelectStmt" and _needs_select_clauses(statement.text)) or (
            tree.kind == "InsertStmt" and _insert_needs_clauses(statement.text)
        ):
            # SELECT ... INTO creates a table; WITH x AS (UPDATE ...) changes rows
            fields = tree.fields()
            return tree.kind, {k: fields[k] for k in _CLAUSES if fields.get(k)}
        if tree.kind in _KIND_ONLY:
            return tree.kind, {}
        if tree.kind in _RELATION_ONLY:
            head = tree.leading_field("relation")
            if head is not None:
                return tree.kind, head
        return tree.kind, tree.fields(view_query=False)
    word = re.match(_FIRST_WORD, statement.text)  # a statement of a file with syntax errors
    kind = _KIND_ONLY_WORDS.get(word.group(0).lower()) if word else None
    if kind is not None and not (kind == "SelectStmt" and _needs_select_clauses(statement.text)):
        return kind, {}
    return statement.kind_and_fields(view_query=False)


#: the clauses of a SELECT or INSERT that rules and the replay look at (the target
#: list for ``SELECT set_config('lock_timeout', ...)``)
_CLAUSES = ("intoClause", "withClause", "targetList", "fromClause")
#: an INSERT that may copy rows with a query (a cheap test before decoding it)
_INSERT_SELECT = re.compile(r"\bselect\b", re.IGNORECASE)
_WITH_CHANGE = re.compile(r"^with\b.*\b(update|delete)\b", re.IGNORECASE | re.DOTALL)
#: what makes a SELECT's target list worth decoding: ``set_config`` (the replay), a
#: ``password`` (``dblink_connect('... password=...')``, hardcoded-password)
_SELECT_LOOKED_AT = re.compile(r"set_config|password", re.IGNORECASE)


def _needs_clauses(text: str) -> bool:
    """The statement may be ``SELECT ... INTO`` or hold a data-modifying ``WITH``."""
    return may_select_into(text) or _WITH_CHANGE.match(text) is not None


def _insert_needs_clauses(text: str) -> bool:
    """The ``INSERT`` may hold a data-modifying ``WITH`` (its ``INTO`` is no ``SELECT
    ... INTO``: testing for that word would decode every ``INSERT``)."""
    return _WITH_CHANGE.match(text) is not None


def _needs_select_clauses(text: str) -> bool:
    """The ``SELECT`` may also call ``set_config`` or hold a password (the cheap test
    before decoding)."""
    return _needs_clauses(text) or _SELECT_LOOKED_AT.search(text) is not None


def _full_tree(statement: Statement) -> tuple[str, dict[str, object]] | None:
    """The statement's ``(kind, fields)`` with nothing left out."""
    return statement.kind_and_fields()


def _as_parsed(
    statements: Sequence[Statement],
    trees: Sequence[tuple[str, dict[str, object]] | None] | None,
    start: int,
) -> list[ParsedStatement]:
    """The parsed statements from index ``start`` on (``trees``: theirs, when held;
    otherwise each is parsed as the walk reaches it)."""
    later = statements[start:]
    found = (_parse(s) for s in later) if trees is None else trees[start:]
    return [
        ParsedStatement(tree[0], tree[1], statement.start, statement.end)
        for statement, tree in zip(later, found, strict=True)
        if tree is not None
    ]


def _statements_of_lines(
    statements: Sequence[Statement], ignores: Sequence[int], lines: Sequence[int]
) -> tuple[dict[int, int], dict[int, int]]:
    """In one walk of ``statements``: for each lint-ignore line of ``ignores`` (sorted),
    the index of the statement it silences (the first that ends on or after it); for
    each line of ``lines`` (sorted), the index of the first statement that spans it."""
    targets: dict[int, int] = {}
    at_line: dict[int, int] = {}
    if not ignores and not lines:
        return targets, at_line
    next_ignore = 0
    pending = collections.deque(lines)
    for statement in statements:
        while next_ignore < len(ignores) and ignores[next_ignore] <= statement.end_line:
            targets[ignores[next_ignore]] = statement.index
            next_ignore += 1
        while pending and pending[0] < statement.line:
            pending.popleft()  # between statements: no statement spans it
        while pending and pending[0] <= statement.end_line:
            at_line[pending.popleft()] = statement.index
        if next_ignore == len(ignores) and not pending:
            break
    return targets, at_line


def _initial_lock_timeout(file: MigrationFile, options: LintOptions) -> bool:
    if file.directives.lock_timeout_ms is not None:
        return file.directives.lock_timeout_ms > 0
    return options.runner_lock_timeout_ms > 0


def _setting_value(fields: dict[str, object]) -> str | None:
    for arg in fields.get("args") or ():  # type: ignore[attr-defined]
        constant = arg.get("A_Const", {})
        if "sval" in constant:
            return str(constant["sval"].get("sval", ""))
        if "ival" in constant:
            return str(constant["ival"].get("ival", 0))
        if "fval" in constant:
            return str(constant["fval"].get("fval", "0"))
    return None


#: time zones of offset 0 with no daylight saving time: with one of them as the
#: session's TimeZone, PostgreSQL 12+ changes timestamp <-> timestamptz in place
_UTC_ZONES = frozenset(
    prefix + zone
    for prefix in ("", "etc/")
    for zone in ("utc", "uct", "gmt", "gmt0", "gmt+0", "gmt-0", "greenwich", "universal", "zulu")
) | {"0"}


def _set_time_zone(state: FileState, value: str | None, *, local: bool) -> None:
    """``SET [LOCAL] TIME ZONE value`` (``timezone``, or ``set_config``) ran; ``None``:
    it was reset (to the server's setting, which the linter cannot know)."""
    if local and not state.in_transaction:
        return  # SET LOCAL outside a transaction block has no effect
    state.set_value(
        "utc_time_zone", value is not None and value.strip().lower() in _UTC_ZONES, local=local
    )


def _set_lock_timeout(state: FileState, value: str | None, *, local: bool) -> None:
    """``SET [LOCAL] lock_timeout = value`` (or ``set_config``) ran; ``None``: it was
    reset."""
    if local and not state.in_transaction:
        return  # SET LOCAL outside a transaction block has no effect
    # a reset goes back to the session's start value, the server's (usually none): the
    # runner's own timeout is a SET LOCAL or SET, which RESET undoes
    in_force = value is not None and value.strip().lower() not in ("0", "0ms", "0s", "")
    state.set_value("lock_timeout", in_force, local=local)


def _advance(ctx: StatementContext, replay: Replay) -> None:
    """Update the transaction state and the catalog (``replay``, the one replay the
    planner uses too) after ``ctx``'s statement."""
    state, kind, fields, catalog = ctx.state, ctx.kind, ctx.fields, ctx.catalog
    if kind == "VariableSetStmt" and (
        fields.get("name") == "lock_timeout" or fields.get("kind") == "VAR_RESET_ALL"
    ):
        local = bool(fields.get("is_local"))
        if fields.get("kind") == "VAR_SET_VALUE":
            _set_lock_timeout(state, _setting_value(fields) or "0", local=local)
        elif fields.get("kind") in ("VAR_SET_DEFAULT", "VAR_RESET", "VAR_RESET_ALL"):
            _set_lock_timeout(state, None, local=local)
    if kind == "VariableSetStmt" and fields.get("name") == "timezone":
        local = bool(fields.get("is_local"))
        value = _setting_value(fields) if fields.get("kind") == "VAR_SET_VALUE" else None
        _set_time_zone(state, value, local=local)
    if kind == "SelectStmt" and fields.get("targetList"):
        for setting, value, local in set_config_calls(fields["targetList"]):
            if setting == "lock_timeout":
                _set_lock_timeout(state, value, local=local)
            elif setting == "timezone":
                _set_time_zone(state, value, local=local)
    if state.in_transaction:
        for range_var, lock in statement_locks(kind, fields):
            name, table = ctx.relation(range_var)
            if ctx.is_existing(table):
                state.write_locked.setdefault(name, (ctx.statement.line, lock))
                if lock is Lock.ACCESS_EXCLUSIVE:
                    how = "" if table is not None and table.origin.unit else _unknown_table(name)
                    state.access_exclusive.setdefault(name, (ctx.statement.line, how))
        if kind == "DropStmt" and fields.get("removeType") in ("OBJECT_TABLE", "OBJECT_INDEX"):
            _drop_locks(ctx)
        if kind in ("TruncateStmt", "DeleteStmt"):
            _note_emptied(ctx)
        if kind == "AlterTableStmt":
            name, _ = ctx.altered_table()  # resolved once for the rules and here
            for command in ctx.alter_commands():
                constraint = (command.get("def") or {}).get("Constraint", {})
                if command.get("subtype") == "AT_AddConstraint" and constraint.get(
                    "skip_validation"
                ):
                    state.not_valid_added.add((name, constraint.get("conname", "")))
        if kind == "AlterEnumStmt" and fields.get("newVal") and not fields.get("oldVal"):
            schema, enum_name = object_name(fields.get("typeName"))
            qualified = catalog.resolve(schema, enum_name, kind="type")
            enum = catalog.enum(qualified)
            if enum is None or not catalog.is_new(enum):
                state.enum_values_added.add(str(fields["newVal"]))
            if enum is None:
                state.unknown_enum_values[str(fields["newVal"])] = qualified
    new_transaction = replay.apply(kind, fields)
    if replay.explicit and not state.explicit_transaction:  # BEGIN outside the runner's
        state.explicit_transaction = True
        return
    if state.explicit_transaction and not replay.explicit:  # COMMIT or ROLLBACK
        state.end_explicit_transaction()
    if new_transaction:
        state.new_transaction()


def _drop_locks(ctx: StatementContext) -> None:
    """The ACCESS EXCLUSIVE locks a ``DROP TABLE`` or ``DROP INDEX`` holds on busy
    tables. A dropped table itself does not count (whatever still reads it breaks at
    the commit anyway: that is ``drop-table``'s finding), but the tables its foreign
    keys reference do: PostgreSQL locks them to remove the key's triggers (checked on
    15 in ``pg_locks``), and with ``CASCADE`` so are the tables whose foreign keys
    reference it."""
    catalog, fields = ctx.catalog, ctx.fields
    line = ctx.statement.line
    for item in fields.get("objects") or ():
        items = item.get("List", {}).get("items") if isinstance(item, dict) else None
        schema, name = object_name(items)
        if fields.get("removeType") == "OBJECT_TABLE":
            qualified = catalog.resolve(schema, name)
            table = catalog.table(qualified)
            if table is None:
                if ctx.is_existing(None):
                    note = (
                        f"by DROP TABLE {qualified}, a table the replayed migrations never "
                        "created (the tables its foreign keys lock are unknown)"
                    )
                    _hold(ctx, qualified, line, note)
                continue
            for constraint in table.foreign_keys:
                if constraint.references is not None and constraint.references != qualified:
                    target = catalog.table(constraint.references)
                    if ctx.is_existing(target):
                        note = f"by DROP TABLE {qualified}, whose foreign key references it"
                        _hold(ctx, constraint.references, line, note)
            if fields.get("behavior") == "DROP_CASCADE":
                for other in catalog.tables():
                    if (
                        other.name != qualified
                        and ctx.is_existing(other)
                        and any(c.references == qualified for c in other.foreign_keys)
                    ):
                        note = f"by DROP TABLE {qualified} CASCADE, which drops its foreign key"
                        _hold(ctx, other.name, line, note)
        elif not fields.get("concurrent"):
            index = catalog.index(catalog.resolve(schema, name, kind="index"))
            if index is not None and not catalog.is_new(index):
                table = catalog.table(index.table)
                if ctx.is_existing(table):
                    _hold(ctx, index.table, line, "")


def _unknown_table(name: QualifiedName) -> str:
    return unknown_note("table", name, "an existing table")


def _hold(ctx: StatementContext, name: QualifiedName, line: int, note: str) -> None:
    """The transaction now holds ACCESS EXCLUSIVE on ``name``."""
    ctx.state.access_exclusive.setdefault(name, (line, note))
    ctx.state.write_locked.setdefault(name, (line, Lock.ACCESS_EXCLUSIVE))


#: words that make a DELETE remove less than every row (a cheap test: the engine does
#: not decode a DELETE's WHERE clause)
_PARTIAL_DELETE = r"(?i)\b(where|using|returning)\b"


def _note_emptied(ctx: StatementContext) -> None:
    """``TRUNCATE t`` or ``DELETE FROM t`` without WHERE: ``t`` is empty for the rest of
    the transaction."""
    if ctx.kind == "TruncateStmt":
        for item in ctx.fields.get("relations") or ():
            name, _ = ctx.relation(item.get("RangeVar"))
            ctx.state.emptied.add(name)
    elif ctx.statement.text[:6].lower() == "delete" and not re.search(
        _PARTIAL_DELETE, ctx.statement.text
    ):
        name, _ = ctx.relation(ctx.fields.get("relation"))
        ctx.state.emptied.add(name)
