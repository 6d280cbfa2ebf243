"""Lint gives the same report whether a file is read whole or walked from disk as a
large one is (:mod:`migrator.sql.statement_source`): every corpus directory linted
twice, the second time with every file taking the large-file path."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.lint.engine import LintReport
from migrator.lint.options import LintOptions
from migrator.lint.targets import lint_paths
from migrator.source import discovery

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def _report(directory: Path) -> tuple[object, ...]:
    report: LintReport = lint_paths([], migrations_dir=directory, options=LintOptions())
    return (report.findings, report.suppressed, report.internal_errors, report.files)


#: every corpus directory of migrations (``original/diesel_lemmy`` is ``lemmy`` again;
#: ``lemmy``, the largest, 25 s on a loaded machine, runs with ``-m slow``)
DIRECTORIES = [
    pytest.param("lemmy", marks=pytest.mark.slow),
    "sourcegraph_codeintel",
    "temporal_visibility",
    "original/diesel_vaultwarden",
    "original/flyway_kestra",
    "original/golang-migrate_pocket-id",
    "original/goose_permify",
    "original/sqlx_svix-webhooks",
]


@pytest.mark.parametrize("name", DIRECTORIES)
def test_a_corpus_lints_the_same_when_every_file_is_walked_from_disk(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = CORPORA / name
    if not directory.is_dir():
        pytest.skip("the corpora are not beside this checkout")
    whole = _report(directory)
    monkeypatch.setattr(discovery, "WHOLE_PARSE_LIMIT", 0)
    first = min(p for p in directory.rglob("*.sql") if p.stat().st_size)
    assert discovery.load_file(first).streamed
    assert _report(directory) == whole
