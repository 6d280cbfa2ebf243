"""Statement fingerprints and the resume check (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.db.records import LedgerEntry
from migrator.runner.progress import changed_since_stop, fingerprint, step_of
from migrator.sql.split import Statement, split_statements

#: statements whose tokens the generated layouts are put between
TOKENS = ["UPDATE", "acc", "SET", "b", "=", "b", "+", "50", "WHERE", "id", "=", "'x y'"]
LAYOUT = st.sampled_from([" ", "  ", "\n", "\t", " /* note */ ", " -- note\n", "\n\n  "])


@settings(max_examples=200, deadline=None)
@given(st.lists(LAYOUT, min_size=len(TOKENS) - 1, max_size=len(TOKENS) - 1))
def test_comments_and_layout_do_not_change_a_fingerprint(gaps: list[str]) -> None:
    text = TOKENS[0] + "".join(gap + token for gap, token in zip(gaps, TOKENS[1:], strict=True))

    assert fingerprint(text) == fingerprint(" ".join(TOKENS))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_a_changed_constant_changes_a_fingerprint(first: int, second: int) -> None:
    same = fingerprint(f"UPDATE acc SET b = b + {first}") == fingerprint(
        f"UPDATE acc SET b = b + {second}"
    )

    assert same == (first == second)


def test_string_contents_and_identifier_case_count() -> None:
    assert fingerprint("SELECT 'a b'") != fingerprint("SELECT 'a  b'")
    assert fingerprint('SELECT "Col" FROM t') != fingerprint('SELECT "col" FROM t')
    assert fingerprint("select 1") == fingerprint("SELECT 1")


def _statements(text: str) -> tuple[Statement, ...]:
    return split_statements(text).statements


def _stopped(statements: tuple[Statement, ...], done: int, **values: Any) -> LedgerEntry:
    steps = [step_of([statement]).to_json() for statement in statements[:done]]
    fields: dict[str, Any] = {
        "version": 2,
        "name": "pay",
        "up_checksum": "old",
        "down_checksum": None,
        "applied_at": datetime(2026, 1, 1, tzinfo=UTC),
        "applied_by": "test",
        "duration_ms": None,
        "transactional": False,
        "phase": None,
        "state": "failed",
        "direction": "up",
        "statements_done": done,
        "statements_total": len(statements),
        "error": "boom",
        "progress": {"steps": steps},
    }
    fields.update(values)
    return LedgerEntry(**fields)


ORIGINAL = "UPDATE acc SET b = b + 50;\nUPDATE acc SET c = 1;\nINSERT INTO missing VALUES (1);\n"


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=3))
def test_resume_matches_only_when_the_completed_prefix_is_unchanged(
    done: int, inserted_at: int
) -> None:
    original = _statements(ORIGINAL)
    entry = _stopped(original, done)
    lines = ORIGINAL.splitlines(keepends=True)
    edited = _statements("".join([*lines[:inserted_at], "SELECT 42;\n", *lines[inserted_at:]]))

    changed = changed_since_stop(entry, edited, checksum="new")

    # a statement inserted at or after the stop point leaves the completed prefix alone
    assert (changed is None) == (inserted_at >= done)
    assert changed_since_stop(entry, original, checksum="new") is None


def test_a_segment_step_covers_several_statements() -> None:
    statements = _statements("BEGIN;\nUPDATE acc SET b = 1;\nCOMMIT;\nSELECT 1;\n")
    segment = step_of(statements[:3])
    entry = _stopped(statements, 3, progress={"steps": [segment.to_json()]})

    assert (segment.first, segment.count, segment.end) == (0, 3, 3)
    assert changed_since_stop(entry, statements) is None
    edited = _statements("BEGIN;\nUPDATE acc SET b = 2;\nCOMMIT;\nSELECT 1;\n")
    assert "statement 2" in (changed_since_stop(entry, edited) or "")


def test_a_row_without_steps_resumes_only_an_unchanged_file() -> None:
    statements = _statements(ORIGINAL)
    entry = _stopped(statements, 1, progress=None, up_checksum="same")

    assert changed_since_stop(entry, statements, checksum="same") is None
    assert "no record" in (changed_since_stop(entry, statements, checksum="other") or "")
