"""Statement facts the runner needs before sending anything."""

from __future__ import annotations

import pytest

from migrator.sql import classify
from migrator.sql.classify import copy_from_stdin, non_transactional_reason, transaction_control


@pytest.mark.parametrize(
    "sql",
    [
        "create index concurrently i on t (a)",
        "create unique index concurrently if not exists i on t (a)",
        "drop index concurrently if exists i",
        "reindex index concurrently i",
        "alter table t detach partition p concurrently",
        "vacuum t",
        "vacuum full",
        "vacuum (analyze) t",
        "vacuum analyze t (a)",
        "create database d",
        "drop database d",
        "alter system set work_mem = '1MB'",
        "reindex schema public",
        "reindex database d",
        "reindex system d",
    ],
)
def test_statements_that_cannot_run_in_a_transaction(sql: str) -> None:
    assert non_transactional_reason(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "create index i on t (a)",
        "select 'create index concurrently'",
        "comment on table t is 'vacuum'",
        "create table concurrently (id int)",
        "cluster t using i",
        "analyze t",
        "analyze t (a, b)",
        "analyze (verbose) t",
        "reindex table t",
        "reindex index i",
    ],
)
def test_statements_that_can(sql: str) -> None:
    assert non_transactional_reason(sql) is None


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [("begin", "BEGIN"), ("commit", "COMMIT"), ("rollback", "ROLLBACK"), ("select 1", None)],
)
def test_transaction_control(sql: str, keyword: str | None) -> None:
    assert transaction_control(sql) == keyword


def test_copy_from_stdin_but_not_from_a_file_or_to_stdout() -> None:
    assert copy_from_stdin("copy t (a) from stdin")
    assert not copy_from_stdin("copy t from '/tmp/x'")
    assert not copy_from_stdin("copy t to stdout")


@pytest.mark.parametrize(
    ("sql", "replayable"),
    [
        ("SELECT set_config('search_path', 'app', false)", True),
        ("SELECT pg_catalog.set_config('a.b', 'c', false), set_config('x.y', 'z', true)", True),
        ("SELECT set_config('search_path', 'app', false), 1", False),
        ("SELECT set_config('search_path', nspname, false) FROM pg_namespace", False),
        ("SELECT set_config('search_path', current_user, false)", False),
        ("SELECT now()", False),
    ],
)
def test_only_sets_config(sql: str, replayable: bool) -> None:
    node = classify.statement_node(sql)
    assert node is not None
    assert classify.only_sets_config(*node) is replayable


@pytest.mark.parametrize(
    ("fact", "sql", "expected"),
    [
        (
            "may_change_session",
            "DO $$ BEGIN PERFORM set_config('search_path', 'app', false); END $$",
            True,
        ),
        ("may_change_session", "DO $$ BEGIN SET search_path = app; END $$", True),
        ("may_change_session", "DO $$ BEGIN IF true THEN SET ROLE admin; END IF; END $$", True),
        ("may_change_session", "DO $$ BEGIN EXECUTE 'SET search_path TO app'; END $$", True),
        ("may_change_session", "DO $$ BEGIN RESET search_path; END $$", True),
        ("may_change_session", "DO $$ BEGIN UPDATE t SET x = 1; END $$", False),
        ("may_change_session", "DO $$ BEGIN SET LOCAL search_path = app; END $$", False),
        ("may_change_session", "DO $$ BEGIN RAISE NOTICE 'set up done'; END $$", False),
        ("may_change_session", "DO $$ BEGIN SET CONSTRAINTS ALL DEFERRED; END $$", False),
        ("may_change_session", "CREATE TABLE t AS SELECT set_config('a.b', 'c', false)", True),
        (
            "may_change_session",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql "
            "AS $$ SELECT set_config('a', 'b', false) $$",
            False,
        ),
        ("may_change_session", "UPDATE t SET search_path = 1", False),
        ("changes_new_session_defaults", "ALTER DATABASE d SET search_path = a", True),
        ("changes_new_session_defaults", "ALTER ROLE r SET work_mem = '8MB'", True),
        (
            "changes_new_session_defaults",
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = a', "
            "current_database()); END $$",
            True,
        ),
        (
            "changes_new_session_defaults",
            "DO $$ BEGIN EXECUTE 'ALTER ROLE app RESET ALL'; END $$",
            True,
        ),
        (
            "changes_new_session_defaults",
            "DO $$ BEGIN ALTER TABLE t ALTER COLUMN c SET DEFAULT 1; END $$",
            False,
        ),
        (
            "changes_new_session_defaults",
            "DO $$ BEGIN ALTER ROLE app RENAME TO app2; UPDATE t SET x = 1; END $$",
            False,
        ),
        ("changes_new_session_defaults", "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1", False),
    ],
)
def test_session_facts(fact: str, sql: str, expected: bool) -> None:
    """May a statement have changed its session as a side effect (a resume cannot
    replay it); does it change what new sessions start with (the next migration needs
    a new session)?"""
    node = classify.statement_node(sql)
    assert node is not None
    assert getattr(classify, fact)(node[0], sql) is expected
