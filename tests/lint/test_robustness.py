"""The linter never raises: random and garbled SQL, real-world corpora, odd files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.lint.engine import LintReport
from migrator.lint.options import LintOptions
from migrator.lint.targets import lint_paths
from tests.helpers import shared_path
from tests.lint.lintcases import lint_sql

FRAGMENTS = [
    "CREATE TABLE t (id int PRIMARY KEY, c text NOT NULL DEFAULT now())",
    "ALTER TABLE t ADD COLUMN x int REFERENCES u (id)",
    "ALTER TABLE t ALTER COLUMN c TYPE varchar(10) USING c::text",
    "ALTER TABLE t ALTER COLUMN c SET NOT NULL",
    "ALTER TABLE t ADD CONSTRAINT k CHECK (c IS NOT NULL) NOT VALID",
    "ALTER TABLE t VALIDATE CONSTRAINT k",
    "CREATE INDEX CONCURRENTLY i ON t (c)",
    "DROP INDEX i",
    "DROP TABLE t CASCADE",
    "ALTER TABLE t RENAME TO u",
    "ALTER TABLE u RENAME COLUMN c TO d",
    "CREATE TYPE e AS ENUM ('a')",
    "ALTER TYPE e ADD VALUE 'b'",
    "SET search_path TO s, public",
    "BEGIN",
    "COMMIT",
    "UPDATE t SET c = 'b'",
    "GRANT ALL ON t TO PUBLIC",
    "CREATE FUNCTION f() RETURNS int SECURITY DEFINER LANGUAGE sql AS $$ SELECT 1 $$",
    "-- migrate:lint-ignore drop-table, nope -- why",
    "-- migrate:no-transaction",
    "\\set x 1",
    "COPY t FROM stdin",
    "$$ unterminated",
    "/* unterminated comment",
    "'unterminated string",
    "ALTER TABLE",
    "CREATE",
    ";",
    "SELECT 'é' AS \"ü\"",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(FRAGMENTS), max_size=12),
    st.lists(st.sampled_from(FRAGMENTS), max_size=4),
)
def test_statement_soup_never_raises(pieces: list[str], earlier: list[str]) -> None:
    findings = lint_sql(";\n".join(pieces) + ";\n", [";\n".join(earlier) + ";\n"])
    assert isinstance(findings, list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_never_raises(text: str) -> None:
    assert isinstance(lint_sql(text.replace("\x00", "")), list)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8), st.data())
def test_garbled_sql_never_raises(pieces: list[str], data: st.DataObject) -> None:
    text = ";\n".join(pieces)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    garbled = (
        text[:cut]
        + data.draw(st.sampled_from(["(", ")", "'", "$$", '"', "--", "/*", ""]))
        + text[cut:]
    )
    assert isinstance(lint_sql(garbled), list)


@pytest.mark.parametrize("corpus", ["lemmy", "sourcegraph_codeintel", "temporal_visibility"])
def test_real_world_corpora_lint_without_internal_errors(corpus: str) -> None:
    directory = shared_path("corpora", corpus)
    report: LintReport = lint_paths([directory], migrations_dir=directory, options=LintOptions())
    assert report.internal_errors == []
    assert report.files == len(list(directory.glob("*.sql")))


def test_corpus_findings_are_plausible() -> None:
    directory = shared_path("corpora", "temporal_visibility")
    report = lint_paths([directory], migrations_dir=directory, options=LintOptions())
    concurrent_files = {
        path.name for path in directory.glob("*.sql") if "CONCURRENTLY" in path.read_text()
    }
    flagged = {
        Path(f.file).name
        for f in report.findings
        if f.rule in ("index-not-concurrent", "concurrently-in-transaction")
    }
    # files that build their indexes CONCURRENTLY (marked no-transaction) are clean;
    # the ones that build them plainly on the existing table are flagged
    assert concurrent_files and not concurrent_files & flagged
    assert "0002_v1_1_index.sql" in flagged


@pytest.mark.parametrize("tail", ["SELECT 'oops", "/* open", "SELECT $$ open"])
def test_an_unterminated_token_at_the_end_hides_no_finding_above_it(tail: str) -> None:
    earlier = ["CREATE TABLE users (id bigint PRIMARY KEY, a text)"]
    sql = f"CREATE INDEX users_a_idx ON users (a);\nDROP TABLE users;\n{tail}\n"

    rules = {(f.rule, f.line) for f in lint_sql(sql, earlier)}

    assert {("index-not-concurrent", 1), ("drop-table", 2), ("syntax-error", 3)} <= rules


def test_a_statement_too_deep_for_the_parser_is_named_and_the_rest_linted(tmp_path: Path) -> None:
    deep = " || ".join(["'x'"] * 25000)
    migration = tmp_path / "0001_deep.up.sql"
    migration.write_text(
        "CREATE TABLE users (a text);\n"
        f"ALTER TABLE users ADD COLUMN b text DEFAULT {deep};\n"
        "CREATE TABLE t (id int);\nCREATE INDEX t_idx ON t (id);\n"
    )
    (tmp_path / "0002_next.up.sql").write_text("DROP TABLE users;\n")

    report = lint_paths([tmp_path], migrations_dir=tmp_path, options=LintOptions())

    assert [(Path(f.file).name, f.rule) for f in report.findings] == [
        ("0002_next.up.sql", "drop-table")
    ]
    assert report.internal_errors == [
        f"{migration}:2: this statement is nested too deeply for the parser to give its "
        "tree; no rule checked it"
    ]


def test_lint_never_imports_asyncpg() -> None:
    code = (
        "import sys, pathlib\n"
        "import migrator.lint, migrator.lint.targets, migrator.lint.render, migrator.lint.docs\n"
        "import migrator.sql.catalog, migrator.sql.replay\n"
        "from migrator.lint.options import LintOptions\n"
        "from migrator.lint.targets import lint_paths\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "lint_paths([p], migrations_dir=p.parent, options=LintOptions())\n"
        "try:\n"
        "    import migrator.plan\n"
        "except ImportError:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncpg'))\n"
    )
    sql = Path(__file__).parent / "cases"  # any path works; lint a case-free dir
    result = subprocess.run(
        [sys.executable, "-c", code, str(sql)], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.strip().replace("'", '"')) == []


def test_only_the_live_module_mentions_asyncpg() -> None:
    package = Path(__file__).resolve().parents[2] / "migrator"
    offenders = [
        str(path.relative_to(package))
        for layer in ("lint", "sql", "plan")
        for path in (package / layer).rglob("*.py")
        if "import asyncpg" in path.read_text() and path.name != "live.py"
    ]
    assert offenders == []


def test_a_refused_file_of_a_migration_directory_is_reported_when_named_alone(
    tmp_path: Path,
) -> None:
    """What pre-commit does: pass the changed file. A file the directory run reports as
    not a migration is reported the same way when named alone."""
    (tmp_path / "0001_init.up.sql").write_text("CREATE TABLE t (id int);\n")
    notes = tmp_path / "notes.sql"
    notes.write_text("DROP TABLE t;\n")

    alone = lint_paths([notes], migrations_dir=tmp_path, options=LintOptions())
    whole = lint_paths([tmp_path], migrations_dir=tmp_path, options=LintOptions())

    assert [(Path(f.file).name, f.rule) for f in alone.findings] == [
        ("notes.sql", "invalid-migration-file")
    ]
    assert [(Path(f.file).name, f.rule) for f in whole.findings] == [
        ("notes.sql", "invalid-migration-file")
    ]


def test_a_statement_holding_a_psql_meta_command_is_not_called_too_deep(tmp_path: Path) -> None:
    """The meta-command is reported where it stands; the statement it breaks is not
    also blamed on the parser's depth."""
    (tmp_path / "001_a.up.sql").write_text(
        "CREATE TABLE a (id int);\n\\set ON_ERROR_STOP on\nCOPY a (id) FROM stdin;\n"
    )

    report = lint_paths([tmp_path], migrations_dir=tmp_path, options=LintOptions())

    assert ("psql-meta-command", 2) in {(f.rule, f.line) for f in report.findings}
    assert report.internal_errors == []
