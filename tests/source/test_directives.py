"""``-- migrate:`` directives: known ones parsed, unknown or misplaced ones are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.source import load_file


def parse(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "001_x.up.sql"
    path.write_text(text)
    return load_file(path)


def test_header_directives(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        (
            "-- migrate:no-transaction\n"
            "-- migrate:lock-timeout 2s\n"
            "--migrate:statement-timeout 1500ms\n"
            "-- migrate:phase expand\n"
            "create index concurrently if not exists i on t (a);\n"
        ),
    )
    assert parsed.problems == ()
    directives = parsed.directives
    assert not directives.transactional
    assert directives.lock_timeout_ms == 2000
    assert directives.statement_timeout_ms == 1500
    assert directives.phase == "expand"


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("-- migrate:no-transactoin\nselect 1;", "unknown-directive", "no-transactoin"),
        ("-- migrate:up\nselect 1;", "unknown-directive", "dbmate"),
        ("-- Migrate:statement-timeout 1s\nselect 1;", "invalid-directive", "lower-case"),
        ("-- MIGRATE:LOCK-TIMEOUT 9s\nselect 1;", "invalid-directive", "-- migrate:lock-timeout"),
        ("-- migrate:lock-timeout soon\nselect 1;", "invalid-directive", "soon"),
        ("-- migrate:lock-timeout 5 parsecs\nselect 1;", "invalid-directive", "parsecs"),
        ("-- migrate:lock-timeout\nselect 1;", "invalid-directive", "needs a duration"),
        ("-- migrate:phase later\nselect 1;", "invalid-directive", "not a phase"),
        ("-- migrate:no-transaction yes\nselect 1;", "invalid-directive", "no argument"),
        (
            "select 1;\n-- migrate:no-transaction\nselect 2;",
            "misplaced-directive",
            "before the first",
        ),
        (
            "-- migrate:lock-timeout 1s\n-- migrate:lock-timeout 2s\nselect 1;",
            "invalid-directive",
            "twice",
        ),
    ],
)
def test_bad_directives_are_problems_with_a_line(
    tmp_path: Path, text: str, code: str, fragment: str
) -> None:
    (problem,) = parse(tmp_path, text).problems
    assert problem.code == code
    assert fragment in problem.message + (problem.hint or "")
    assert problem.line >= 1


def test_directive_text_inside_a_string_is_not_a_directive(tmp_path: Path) -> None:
    parsed = parse(tmp_path, "select '\n-- migrate:no-transaction\n';")
    assert parsed.directives.transactional
    assert parsed.problems == ()


def test_lint_ignores_anywhere_with_reasons(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        (
            "-- migrate:lint-ignore-file prefer-text\n"
            "select 1;\n"
            "-- migrate:lint-ignore drop-table, drop-column -- the table is unused since v2\n"
            "drop table old;\n"
        ),
    )
    file_wide, statement = parsed.directives.lint_ignores
    assert file_wide.whole_file and file_wide.rules == ("prefer-text",)
    assert statement.rules == ("drop-table", "drop-column")
    assert statement.reason == "the table is unused since v2"
    assert statement.line == 3
