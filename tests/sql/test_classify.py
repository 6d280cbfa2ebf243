"""Statement facts the runner needs before sending anything."""

from __future__ import annotations

import pytest

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
