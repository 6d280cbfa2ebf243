"""Render a :class:`LintReport` as text, JSON, GitHub annotations, SARIF 2.1.0 or a
GitLab Code Quality report.

Every format renders from the same findings; only the text format uses colour, and
only when the output is a terminal and ``NO_COLOR`` is not set.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from pathlib import PurePosixPath
from urllib.parse import quote

from migrator import __version__
from migrator.lint.engine import LintReport
from migrator.lint.findings import Finding, Severity
from migrator.lint.registry import RULES

FORMATS = ("text", "json", "github", "sarif", "gitlab")

_COLOURS = {"error": "\x1b[31m", "warning": "\x1b[33m", "dim": "\x1b[2m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"
DOCS_URL = "https://github.com/migrator/migrator/blob/main/docs/rules/{rule}.md"


def render(report: LintReport, output_format: str, *, colour: bool = False) -> str:
    renderers: dict[str, Callable[[LintReport], str]] = {
        "text": lambda r: render_text(r, colour=colour),
        "json": render_json,
        "github": render_github,
        "sarif": render_sarif,
        "gitlab": render_gitlab,
    }
    return renderers[output_format](report)


#: control characters a terminal would act on (ESC starts colour, title and cursor
#: sequences): a file under review must not be able to write them to the reviewer's
#: terminal through its names or excerpts
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_text(report: LintReport, *, colour: bool = False) -> str:
    def paint(text: str, style: str) -> str:
        text = _printable(text)
        return f"{_COLOURS[style]}{text}{_RESET}" if colour else text

    lines: list[str] = []
    for finding in report.findings:
        where = f"{finding.file}:{finding.line}:{finding.column}"
        severity = paint(finding.severity.value, finding.severity.value)
        message = _printable(finding.message)
        lines.append(f"{paint(where, 'bold')}: {severity} [{finding.rule}] {message}")
        if finding.excerpt:
            lines.append(paint(f"  | {finding.excerpt}", "dim"))
        if finding.help:
            lines.append(f"  = help: {_printable(finding.help)}")
        for fact in finding.facts:
            lines.append(f"  = fact: {_printable(fact)}")
    if report.live_facts:
        lines.append(_live_facts_line(report))
    lines.extend(report.empty)
    options = report.options
    origin = {"flag": "--pg-version", "database": "from the database"}
    source = origin.get(options.pg_version_origin, options.pg_version_origin)
    target = f"PostgreSQL {options.pg_version} ({source})"
    summary = (
        f"{report.errors} error(s), {report.warnings} warning(s) in {report.files} file(s); "
        f"target {target}"
    )
    lines.append(summary if not report.findings else "\n" + summary)
    return "\n".join(lines) + "\n"


def _live_facts_line(report: LintReport) -> str:
    return "facts from the database: " + "; ".join(report.live_facts)


def _message_with_facts(finding: Finding, help_format: str) -> str:
    """The message, the help and the facts (from the database) it rests on, as one
    text: GitHub shows only this text."""
    text = finding.message + (help_format.format(finding.help) if finding.help else "")
    if finding.facts:
        text += "".join(f"; fact: {fact}" for fact in finding.facts)
    return text


def render_json(report: LintReport) -> str:
    """The findings as a JSON array of :meth:`Finding.as_dict`, exactly as
    ``json.dumps(..., indent=2)`` writes it, several times faster (``indent`` makes
    :mod:`json` use its pure-Python encoder, which dominated linting a large directory)."""
    if not report.findings:
        return "[]\n"
    return "[\n" + ",\n".join(map(_json_finding, report.findings)) + "\n]\n"


def _json_finding(finding: Finding) -> str:
    """One finding's :meth:`~Finding.as_dict` as an indented JSON object, written
    from its fields (one format: no dict, no test of each value's type)."""
    string = encode_basestring_ascii
    if finding.facts:
        items = ",\n".join(f"      {string(fact)}" for fact in finding.facts)
        facts = f"[\n{items}\n    ]"
    else:
        facts = "[]"
    return (
        f'  {{\n    "file": {string(finding.file)},\n    "line": {finding.line:d},\n'
        f'    "column": {finding.column:d},\n    "end_line": {finding.end_line:d},\n'
        f'    "end_column": {finding.end_column:d},\n    "rule": {string(finding.rule)},\n'
        f'    "severity": {string(finding.severity.value)},\n'
        f'    "message": {string(finding.message)},\n    "help": {string(finding.help)},\n'
        f'    "plannable": {"true" if finding.plannable else "false"},\n'
        f'    "facts": {facts}\n  }}'
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: LintReport) -> str:
    """GitHub Actions workflow commands: one ``::error``/``::warning`` line each."""
    lines = []
    for finding in report.findings:
        level = "error" if finding.severity is Severity.ERROR else "warning"
        properties = ",".join(
            [
                f"file={_escape_property(finding.file)}",
                f"line={finding.line}",
                f"col={finding.column}",
                f"endLine={finding.end_line}",
                f"title={_escape_property(finding.rule)}",
            ]
        )
        message = _message_with_facts(finding, " (help: {})")
        lines.append(f"::{level} {properties}::{_escape_data(message)}")
    if report.live_facts:
        lines.append(f"::notice title=migrate lint::{_escape_data(_live_facts_line(report))}")
    return "\n".join(lines) + ("\n" if lines else "")


def _artifact_uri(file: str) -> str:
    """A file name as the URI reference SARIF requires: percent-encoded (spaces, ``%``,
    ``#``, non-ASCII), ``file://`` for an absolute path."""
    path = PurePosixPath(file.replace("\\", "/"))
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix(), safe="/")


def _fingerprints(findings: list[Finding]) -> list[str]:
    """One stable identity per finding, across commits: its file (as the repository
    names it), rule and statement (whitespace aside) and, for repeats of those, which
    repeat it is; not its line, so a finding does not look new when lines above it move."""
    from hashlib import sha256  # SARIF and GitLab only: the other formats never load it

    repeats: Counter[tuple[str, str, str]] = Counter()
    fingerprints = []
    for finding in findings:
        key = (
            _repository_path(finding.file),
            finding.rule,
            " ".join(finding.excerpt.split()) or finding.message,
        )
        repeats[key] += 1
        fingerprints.append(
            sha256("\x00".join([*key, str(repeats[key])]).encode("utf-8")).hexdigest()
        )
    return fingerprints


def _sarif_result(
    finding: Finding, rule_index: dict[str, int], fingerprint: str
) -> dict[str, object]:
    region: dict[str, int] = {
        "startLine": finding.line,
        "startColumn": finding.column,
        "endLine": finding.end_line,
        "endColumn": max(finding.end_column, 1),
    }
    if (finding.end_line, finding.end_column) <= (finding.line, finding.column):
        region["endLine"] = finding.line
        region["endColumn"] = finding.column + 1
    text = _message_with_facts(finding, ". Help: {}")
    result: dict[str, object] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index[finding.rule],
        "level": finding.severity.value,
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _artifact_uri(finding.file)},
                    "region": region,
                }
            }
        ],
        "partialFingerprints": {"migratorFinding/v1": fingerprint},
        "properties": {"plannable": finding.plannable, "facts": list(finding.facts)},
    }
    if finding.suppressed is not None:  # silenced by -- migrate:lint-ignore
        suppression = {"kind": "inSource", "status": "accepted"}
        if finding.suppressed:
            suppression["justification"] = finding.suppressed
        result["suppressions"] = [suppression]
    return result


def render_sarif(report: LintReport) -> str:
    """SARIF 2.1.0, one run, every rule described (for GitHub code scanning)."""
    rules = [
        {
            "id": rule.id,
            "name": "".join(part.title() for part in rule.id.split("-")),
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.section("What it does") or rule.summary},
            "helpUri": DOCS_URL.format(rule=rule.id),
            "help": {"text": rule.doc},
            "defaultConfiguration": {
                "level": report.options.severity_of(rule.id, rule.severity).value
            },
            "properties": {"family": rule.family},
        }
        for rule in RULES
    ]
    rule_index = {rule.id: index for index, rule in enumerate(RULES)}
    findings = sorted([*report.findings, *report.suppressed], key=Finding.sort_key)
    results = [
        _sarif_result(finding, rule_index, fingerprint)
        for finding, fingerprint in zip(findings, _fingerprints(findings), strict=True)
    ]
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "migrator",
                        "informationUri": "https://github.com/migrator/migrator",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                # columns count characters (code points), not UTF-16 units
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": {"liveFacts": list(report.live_facts)},
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


#: GitLab's severities for ours (as ESLint's GitLab formatter maps error and warning)
_GITLAB_SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor"}


def _repository_path(file: str) -> str:
    """``file`` as GitLab wants it: relative to the project's root (the job's working
    directory), with forward slashes."""
    if os.path.isabs(file):
        try:
            relative = os.path.relpath(file)
        except ValueError:  # another drive (Windows)
            return file.replace("\\", "/")
        if not relative.startswith(".."):
            file = relative
    return file.replace("\\", "/")


def render_gitlab(report: LintReport) -> str:
    """A GitLab Code Quality report (``artifacts: reports: codequality``): a JSON array
    of issues the merge request widget shows and compares with the target branch's.

    Each issue's fingerprint is the finding's identity across commits
    (:func:`_fingerprints`)."""
    issues = []
    for finding, fingerprint in zip(report.findings, _fingerprints(report.findings), strict=True):
        path = _repository_path(finding.file)
        issues.append(
            {
                "type": "issue",
                "check_name": finding.rule,
                "description": _message_with_facts(finding, " (help: {})"),
                "categories": ["Bug Risk"],
                "severity": _GITLAB_SEVERITY[finding.severity],
                "fingerprint": fingerprint,
                "location": {
                    "path": path,
                    "lines": {"begin": finding.line, "end": max(finding.end_line, finding.line)},
                },
            }
        )
    return json.dumps(issues, indent=2) + "\n"
