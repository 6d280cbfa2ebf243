"""What a lint run is told: target PostgreSQL version, rules on and off, severities.

Built from ``[tool.migrator.lint]`` in pyproject.toml and the command-line flags
by :func:`lint_options`: ``--pg-version`` and ``--include`` replace the file's value
(an empty ``include`` list restricts nothing),
``--exclude`` adds to its list and ``--severity`` to its table (a flag wins for a rule
both name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.errors import UsageError
from migrator.lint.findings import Severity

#: The oldest PostgreSQL major still supported upstream: 15 since 14's final release
#: on 12 November 2026 (15 is supported until November 2027). ``--pg-version`` and
#: ``pg_version`` in ``[tool.migrator.lint]`` change it.
DEFAULT_PG_VERSION = 15
MIN_PG_VERSION = 9
MAX_PG_VERSION = 30

LINT_KEYS = ("exclude", "include", "severity", "pg_version", "exclude_paths")


@dataclass(frozen=True)
class LintOptions:
    """Everything the engine needs besides the files."""

    pg_version: int = DEFAULT_PG_VERSION
    #: where ``pg_version`` came from: ``default``, ``pyproject.toml``, ``flag``, ``database``
    pg_version_origin: str = "default"
    #: the runner's default lock_timeout in ms (0 = none): in force for every migration
    #: whose file does not set its own
    runner_lock_timeout_ms: int = 5000
    #: rule ids that do not run
    disabled: frozenset[str] = frozenset()
    #: rule id -> severity, overriding the default
    severities: Mapping[str, Severity] = field(default_factory=dict)
    #: glob patterns of files not to lint
    exclude_paths: tuple[str, ...] = ()
    #: the layout migration directories are read in (``auto``: detected)
    layout: str = "auto"

    def severity_of(self, rule_id: str, default: Severity) -> Severity:
        return self.severities.get(rule_id, default)


def _rule_ids(value: Any, what: str, known: frozenset[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{what} must be a list of rule ids", hint="see `migrate rules`")
    unknown = sorted(set(value) - known)
    if unknown:
        raise UsageError(
            f"{what}: unknown rule id(s) {', '.join(unknown)}", hint="see `migrate rules`"
        )
    return frozenset(value)


def _severity(value: Any, what: str) -> Severity | None:
    text = str(value).lower()
    if text == "off":
        return None
    try:
        return Severity(text)
    except ValueError:
        raise UsageError(f"{what}: severity {value!r} is not error, warning or off") from None


def _pg_version(value: Any, what: str) -> int:
    try:
        number = int(str(value).split(".")[0])
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a PostgreSQL major version") from None
    if not MIN_PG_VERSION <= number <= MAX_PG_VERSION:
        raise UsageError(
            f"{what}: PostgreSQL {number} is out of range",
            hint=f"give a major version between {MIN_PG_VERSION} and {MAX_PG_VERSION}",
        )
    return number


def _anchored(pattern: str, base: Path | None) -> str:
    """A path pattern of the file made absolute (a bare name pattern matches names)."""
    if base is None or "/" not in pattern or pattern.startswith(("/", "*")):
        return pattern
    return f"{_glob_escape(str(base.resolve()))}/{pattern.removeprefix('./')}"


def _glob_escape(text: str) -> str:
    """``text`` matched literally by :mod:`fnmatch` (``*``, ``?``, ``[`` bracketed)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def lint_options(
    table: Mapping[str, Any],
    known_rules: frozenset[str],
    *,
    where: str = "[tool.migrator.lint]",
    pg_version: int | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    severity: Sequence[str] = (),
    runner_lock_timeout_ms: int = 5000,
    base: Path | None = None,
) -> LintOptions:
    """Options from the pyproject table, overridden by flags (``RULE=LEVEL`` strings for
    ``severity``). ``exclude_paths`` patterns with a ``/`` are relative to ``base`` (the
    directory of pyproject.toml), so a run from a subdirectory excludes the same files.
    Raises :class:`UsageError` naming the bad key or value."""
    unknown_keys = sorted(set(table) - set(LINT_KEYS) - {k.replace("_", "-") for k in LINT_KEYS})
    if unknown_keys:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(unknown_keys)}",
            hint="known keys: " + ", ".join(LINT_KEYS),
        )

    both = sorted(k for k in LINT_KEYS if "_" in k and k in table and k.replace("_", "-") in table)
    if both:
        raise UsageError(
            f"{where}: {both[0]} is given twice ({both[0]} and {both[0].replace('_', '-')})",
            hint="keep one of them",
        )

    def get(key: str) -> Any:
        return table.get(key, table.get(key.replace("_", "-")))

    version_origin = "default"
    version = DEFAULT_PG_VERSION
    if pg_version is not None:
        version, version_origin = _pg_version(pg_version, "--pg-version"), "flag"
    elif get("pg_version") is not None:
        version = _pg_version(get("pg_version"), f"{where} pg_version")
        version_origin = "pyproject.toml"

    # an empty include list restricts nothing: `include = []` must not switch every
    # rule off (a lint that checks nothing and passes)
    included = (
        _rule_ids(list(include), "--include", known_rules)
        if include
        else _rule_ids(get("include"), f"{where} include", known_rules) or known_rules
        if get("include") is not None
        else known_rules
    )
    # --exclude adds to the file's list (as --severity adds to its table): one flag in
    # CI must not switch back on what the team excluded
    excluded = _rule_ids(list(exclude), "--exclude", known_rules) if exclude else frozenset()
    if get("exclude") is not None:
        excluded |= _rule_ids(get("exclude"), f"{where} exclude", known_rules)
    disabled = set((known_rules - included) | excluded)

    #: rule id -> (level, where it was given)
    levels: dict[str, tuple[Any, str]] = {}
    configured = get("severity") or {}
    if not isinstance(configured, Mapping):
        raise UsageError(f"{where} severity must be a table of rule = level")
    levels.update((rule_id, (level, f"{where} severity")) for rule_id, level in configured.items())
    for item in severity:
        rule_id, sep, level = item.partition("=")
        if not sep:
            raise UsageError(f"--severity {item!r}: write RULE=error|warning|off")
        levels[rule_id.strip()] = (level.strip(), "--severity")
    severities: dict[str, Severity] = {}
    for rule_id, (level, given) in levels.items():
        _rule_ids([rule_id], given, known_rules)
        parsed = _severity(level, f"{given} of {rule_id}")
        if parsed is None:
            disabled.add(rule_id)
        else:
            severities[rule_id] = parsed

    paths = get("exclude_paths") or ()
    if isinstance(paths, str) or not all(isinstance(p, str) for p in paths):
        raise UsageError(f"{where} exclude_paths must be a list of glob patterns")
    return LintOptions(
        pg_version=version,
        pg_version_origin=version_origin,
        runner_lock_timeout_ms=runner_lock_timeout_ms,
        disabled=frozenset(disabled),
        severities=severities,
        exclude_paths=tuple(_anchored(pattern, base) for pattern in paths),
    )
