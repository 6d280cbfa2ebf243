"""The safety linter: rules over parsed statements and a replayed catalog. Pure: it
never connects to a database (except :mod:`migrator.lint.live`, only when asked).

Entry point: :func:`run_lint`. Rules: :mod:`migrator.lint.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from migrator.config import Settings
from migrator.lint.engine import LintReport
from migrator.lint.findings import Finding, Severity
from migrator.lint.options import LintOptions, lint_options
from migrator.lint.registry import RULE_IDS
from migrator.lint.targets import lint_paths


def configured_options(
    settings: Settings,
    *,
    pg_version: int | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    severity: Sequence[str] = (),
) -> LintOptions:
    """``[tool.migrator.lint]`` and the runner's lock timeout, overridden by flags."""
    from dataclasses import replace

    options = lint_options(
        settings.lint_table,
        RULE_IDS,
        where=f"[tool.migrator.lint] in {settings.pyproject_path}",
        pg_version=pg_version,
        include=include,
        exclude=exclude,
        severity=severity,
        runner_lock_timeout_ms=settings.lock_timeout,
        base=settings.pyproject_path.parent if settings.pyproject_path else None,
    )
    return replace(options, layout=settings.layout)


def run_lint(
    settings: Settings,
    paths: Sequence[Path] = (),
    *,
    pg_version: int | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    severity: Sequence[str] = (),
    database_url: str | None = None,
    cache: bool = False,
    stdin: tuple[str, bytes] | None = None,
) -> LintReport:
    """Lint ``paths`` (default: the migrations directory) with the configured options.

    ``[tool.migrator.lint]`` gives the defaults, the arguments override them. With
    ``database_url`` the server version (unless ``pg_version`` is given), row estimates
    and column types are read from that database. With ``cache``, findings and replayed
    schemas are kept and reused (:mod:`migrator.lint.cache`). ``stdin``: ``(name,
    bytes)`` of SQL piped in, linted on its own. Raises :class:`UsageError` for bad
    options, :class:`ConnectionFailed` when the database cannot be read.
    """
    options = configured_options(
        settings, pg_version=pg_version, include=include, exclude=exclude, severity=severity
    )
    facts = None
    if database_url:
        from dataclasses import replace

        from migrator.lint.live import read_live_facts

        facts = read_live_facts(
            database_url, timeout_ms=settings.connect_timeout, wait_ms=settings.wait
        )
        if pg_version is None:
            options = replace(options, pg_version=facts.major_version, pg_version_origin="database")
    cache_root = None
    if cache and facts is None:
        from migrator.lint.cache import cache_root as default_cache_root
        from migrator.lint.cache import refuse_inside_checkout

        cache_root = default_cache_root()
        if cache_root is not None:
            refuse_inside_checkout(cache_root, [settings.migrations_dir, Path.cwd()])
    return lint_paths(
        list(paths),
        migrations_dir=settings.migrations_dir,
        options=options,
        facts=facts,
        cache_root=cache_root,
        stdin=stdin,
    )


__all__ = ["Finding", "LintOptions", "LintReport", "Severity", "run_lint"]
