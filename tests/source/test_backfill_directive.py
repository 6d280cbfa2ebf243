"""The ``-- migrate:backfill`` directive: its options, and the UPDATE it batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import UsageError
from migrator.source import load_file
from migrator.source.backfill import (
    BackfillSpec,
    backfill_of,
    backfill_problems,
    parse_backfill_options,
)

UPDATE = "UPDATE public.users SET b = a WHERE id BETWEEN $1 AND $2 AND b IS DISTINCT FROM a"


def test_options_parse_with_defaults() -> None:
    spec = parse_backfill_options("table=public.users key=id")
    assert spec == BackfillSpec(table="users", key="id", schema="public", batch_size=1000)


def test_all_options_and_quoted_names() -> None:
    spec = parse_backfill_options('key="Key" table="My Schema"."Users" batch-size=50 pause=2s')
    assert (spec.schema, spec.table, spec.key) == ("My Schema", "Users", "Key")
    assert (spec.batch_size, spec.pause_ms) == (50, 2000)


def test_directive_round_trips() -> None:
    spec = parse_backfill_options('table="Odd"."T t" key=id batch-size=7 pause=250ms')
    assert parse_backfill_options(spec.directive().removeprefix("-- migrate:backfill ")) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key=id", "needs table="),
        ("table=users", "needs key="),
        ("table=users key=id size=3", "unknown option 'size'"),
        ("table=users key=id batch-size=0", "batch-size='0'"),
        ("table=users key=id batch-size=lots", "batch-size='lots'"),
        ("table=users key=id pause=soon", "pause"),
        ("table=users key=id key=x", "key is given twice"),
        ("table=users key", "is not name=value"),
        ("table=a.b.c key=id", "is not a table name"),
    ],
)
def test_bad_options_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_backfill_options(text)


def test_statement_must_be_one_update_or_delete_of_the_table_using_both_keys() -> None:
    spec = backfill_of("table=public.users key=id", [UPDATE])
    assert spec.statement == UPDATE
    with pytest.raises(UsageError, match="exactly one UPDATE or DELETE"):
        backfill_of("table=users key=id", [UPDATE, UPDATE])
    with pytest.raises(UsageError, match="must be an UPDATE or DELETE"):
        backfill_of("table=users key=id", ["INSERT INTO users SELECT $1, $2"])
    delete = "DELETE FROM users WHERE id BETWEEN $1 AND $2 AND a IS NULL"
    assert backfill_of("table=users key=id", [delete]).verb == "deleted"
    assert spec.verb == "updated"
    with pytest.raises(UsageError, match=r"backfill DELETE changes accounts, but"):
        backfill_of("table=users key=id", ["DELETE FROM accounts WHERE id BETWEEN $1 AND $2"])
    with pytest.raises(UsageError, match=r"changes public\.users, but the directive says"):
        backfill_of("table=accounts key=id", [UPDATE])
    with pytest.raises(UsageError, match=r"found \$1"):
        backfill_of("table=users key=id", ["UPDATE users SET b = a WHERE id > $1"])
    with pytest.raises(UsageError, match=r"found \$1, \$2, \$3"):
        backfill_of("table=users key=id", ["UPDATE users SET b = $3 WHERE id BETWEEN $1 AND $2"])


def test_file_problems_name_the_directive_line(tmp_path: Path) -> None:
    good = tmp_path / "002_fill.up.sql"
    good.write_text(
        "-- migrate:phase backfill\n-- migrate:backfill table=users key=id\n" + UPDATE + ";\n"
    )
    assert backfill_problems(load_file(good)) == []

    bad = tmp_path / "003_fill.up.sql"
    bad.write_text("-- migrate:backfill table=users key=id\nUPDATE users SET b = a;\n")
    (problem,) = backfill_problems(load_file(bad))
    assert (problem.code, problem.line) == ("invalid-backfill", 1)
    assert "$1 and $2" in problem.message

    plain = tmp_path / "004_plain.up.sql"
    plain.write_text("SELECT 1;\n")
    assert backfill_problems(load_file(plain)) == []


@pytest.mark.parametrize("size", [str(2**63), "9" * 400, "+5", "\u0661\u0660", "1_000"])
def test_a_batch_size_postgresql_cannot_limit_by_is_refused(size: str) -> None:
    # P2: 2**63 passed lint and failed the run on LIMIT (bigint out of range, exit 4)
    with pytest.raises(UsageError, match="is not a whole number from 1 to 9223372036854775807"):
        parse_backfill_options(f"table=t key=id batch-size={size}")
    assert parse_backfill_options(f"table=t key=id batch-size={2**63 - 1}").batch_size == 2**63 - 1


def test_the_plan_command_takes_the_batch_sizes_the_directive_takes() -> None:
    from migrator.cli.plan_commands import MAX_BATCH_SIZE as CLI_MAX
    from migrator.source.backfill import MAX_BATCH_SIZE

    assert CLI_MAX == MAX_BATCH_SIZE


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE k SET id = id + 1 WHERE id BETWEEN $1 AND $2",
        "UPDATE k SET (v, id) = (v + 1, id + 1) WHERE id BETWEEN $1 AND $2",
    ],
)
def test_a_backfill_that_moves_the_key_it_walks_is_refused(statement: str) -> None:
    # P12: rows moved past their batch's last key were updated again by the next batch
    # (10 of 100 rows incremented twice, exit 0); `migrate plan` wrote such backfills
    with pytest.raises(UsageError, match=r"sets the key it walks \(id\)"):
        backfill_of("table=k key=id batch-size=10", [statement])
    assert backfill_of("table=k key=other", [statement]).statement == statement
