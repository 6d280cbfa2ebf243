"""The harness catches a broken plan: plans of the corpus, broken on purpose the ways
issue 14 found them broken, must fail the proof (a harness that passes everything
proves nothing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from tests.plan.differential.harness import (
    CASES_DIR,
    Case,
    Outcome,
    _completed_columns,
    empty,
    load_case,
    run_case,
    snapshots,
    sql_without_data_changes,
    tables_racy_changes_read,
    trigger_lost_its_column,
)
from tests.plan.differential.shapes import Column, Shape, Table
from tests.plan.scenario import run


def _edit(directory: Path, name_part: str, edit: object) -> None:
    (path,) = [p for p in sorted(directory.iterdir()) if name_part in p.name]
    assert callable(edit)
    path.write_text(edit(path.read_text()))


def _tampered(
    case: Case,
    name_part: str,
    edit: Callable[[str], str],
    database_pair: tuple[str, str],
    tmp_path: Path,
) -> Outcome:
    """The proof of ``case`` with the migration whose name holds ``name_part`` edited."""

    def tamper(directory: Path) -> None:
        _edit(directory, name_part, edit)

    return run(run_case(case, *database_pair, tmp_path, tamper=tamper))


def test_a_sync_trigger_that_misses_updates_loses_old_clients_writes(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The rename's sync trigger fires on INSERT only: updates old clients make after
    the backfill never reach the new column, and the contract drops the old one."""
    case = load_case(CASES_DIR / "rename-column.toml")
    outcome = _tampered(
        case,
        "002_change_expand.up",
        lambda text: text.replace("BEFORE INSERT OR UPDATE", "BEFORE INSERT"),
        database_pair,
        tmp_path,
    )
    assert outcome.verdict == "differs"
    assert any(p.startswith("client error: old clients") for p in outcome.problems), outcome


def test_a_column_dropped_in_the_expand_breaks_old_clients(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """A column dropped in the expand of an unrelated change, before any deploy: old
    clients still write it."""
    case = load_case(CASES_DIR / "add-column-not-null-volatile-default.toml")

    def tamper(directory: Path) -> None:
        first = next(
            p
            for p in sorted(directory.iterdir())
            if p.name.startswith("002_") and not p.name.endswith(".down.sql")
        )
        first.write_text(first.read_text() + "\nALTER TABLE items DROP COLUMN note;\n")

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    assert any("columns ['note'] gone while old clients use them" in p for p in outcome.problems)
    assert outcome.problems


def test_a_truncating_cast_is_caught_where_the_naive_sql_fails(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """issue 14 #1 put back: the narrowing copies with an explicit cast (truncating)
    instead of assigning: the plan runs to the end where the naive ALTER fails."""
    case = load_case(CASES_DIR / "narrow-varchar-truncates.toml")

    def tamper(directory: Path) -> None:
        for path in directory.iterdir():
            if path.name.startswith("0") and not path.name.startswith("001"):
                text = path.read_text()
                text = re.sub(
                    r"NEW\.status_new := [^;]+;",
                    "NEW.status_new := CAST(NEW.status AS varchar(20));",
                    text,
                )
                text = text.replace(
                    "SET status_new = status\n", "SET status_new = CAST(status AS varchar(20))\n"
                )
                text = text.replace("converted varchar(20);", "converted text;")  # its check
                path.write_text(text)

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    assert outcome.verdict == "ran where the naive SQL fails", outcome


def test_a_view_redefined_on_a_column_still_being_filled_is_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """issue 14 #8 put back: the expand redefines a view on the new column of a
    rename, which the backfill has not filled yet: old clients miss rows."""
    case = Case(
        id="view-on-the-new-column",
        schema="CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);\n"
        "CREATE VIEW user_ids AS SELECT id FROM users;\n",
        seed="INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 150) g;\n",
        change="ALTER TABLE users RENAME COLUMN email TO address",
    )
    redefined = "CREATE OR REPLACE VIEW user_ids AS SELECT id FROM users WHERE address > '';"

    def tamper(directory: Path) -> None:
        _edit(directory, "002_change_expand.up", lambda text: f"{text}\n{redefined}\n")

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    wanted = "view user_ids returns other rows than its old query"
    assert any(wanted in problem for problem in outcome.problems), outcome


def test_a_view_redefined_after_the_deploy_is_caught_although_a_client_raced_a_backfill(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """A row that raced the batched UPDATE differs in the view that reads it, rightly;
    a view the contract redefines to drop rows still fails the proof."""
    case = load_case(CASES_DIR / "update-a-table-a-view-reads-then-rename-another.toml")
    redefined = "CREATE OR REPLACE VIEW a_view AS SELECT id, a_c0 FROM a WHERE id > 3;"
    outcome = _tampered(
        case, "_contract.sql", lambda text: f"{text}\n{redefined}\n", database_pair, tmp_path
    )
    wanted = "view a_view returns other rows than the naive copy's"
    assert any(wanted in problem for problem in outcome.problems), outcome


def test_a_batched_update_that_changes_nothing_is_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """A backfill whose batches match no row: the rows a client never wrote must still
    hold what the naive UPDATE gives them (a row a client wrote after the batches
    passed may keep what it wrote, no other)."""
    case = load_case(CASES_DIR / "update-as-a-batched-backfill.toml")

    def tamper(directory: Path) -> None:
        _edit(
            directory,
            "_backfill",
            lambda text: text.replace("WHERE id BETWEEN", "WHERE false AND id BETWEEN"),
        )

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    assert outcome.verdict == "differs", outcome
    assert any(p.startswith("table items:") for p in outcome.problems), outcome


def test_a_backfill_that_skips_rows_is_caught_although_a_client_raced_it(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """F28: an old client's insert after the batched UPDATE passed keeps its value and
    gets the new column's default, as after the naive SQL: accepted as raced. A
    backfill that skips rows no client wrote is still a difference: only the rows a
    client wrote after the data change began may have raced it."""
    case = load_case(CASES_DIR / "drop-column-add-column-default-update.toml")
    honest = run(run_case(case, *database_pair, tmp_path / "honest"))
    assert honest.problems == [] and honest.raced >= 1, honest
    skipping = _tampered(
        case,
        "_backfill_",
        lambda text: text.replace("AND (id % 3 = 0)", "AND (id % 3 = 0) AND id > 12"),
        database_pair,
        tmp_path / "skipping",
    )
    assert skipping.verdict == "differs", skipping
    assert any(problem.startswith("table a: ") for problem in skipping.problems), skipping


def test_a_column_dropped_after_a_deploy_of_tolerant_code_breaks_its_writes(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """A deploy before the expand (code that tolerates an enum's new value) is not the
    deploy of the code that stops writing a dropped column: that comes before the
    contract. A plan that drops the column in its expand breaks the tolerant code's
    writes, which the proof sees as old clients' writes."""
    case = load_case(CASES_DIR / "enum-value-then-drop-not-null-column.toml")
    honest = run(run_case(case, *database_pair, tmp_path / "honest"))
    assert honest.problems == [], honest
    early = _tampered(
        case,
        "002_change_expand.up",
        lambda text: f"{text}\nALTER TABLE a DROP COLUMN a_c0;\n",
        database_pair,
        tmp_path / "early",
    )
    assert any("columns ['a_c0'] gone while old clients use them" in p for p in early.problems), (
        early
    )


def test_a_partitioned_table_renamed_without_a_view_is_destroyed_where_the_naive_sql_fails(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """A partitioned table renamed with a view under its old name loses nothing when a
    later VALIDATE fails, as a plain table; renamed without the view, it is lost. (The
    plan checks the rows first and fails before the rename: that check is taken out.)"""
    case = load_case(CASES_DIR / "failing-check-then-rename-a-partitioned-table.toml")
    unchecked = re.compile(r"DO \$migrator_check\$.*?\$migrator_check\$;", re.DOTALL)

    def tamper(view: bool) -> Callable[[Path], None]:
        def edit(directory: Path) -> None:
            for path in directory.iterdir():
                if path.name.startswith("0") and not path.name.startswith("001"):
                    text = unchecked.sub("", path.read_text())
                    if not view:
                        text = text.replace("CREATE VIEW b AS SELECT * FROM r2;", "")
                    path.write_text(text)

        return edit

    renamed = run(run_case(case, *database_pair, tmp_path / "renamed", tamper=tamper(True)))
    assert renamed.verdict == "both failed" and renamed.problems == [], renamed
    assert "004" in renamed.reason, renamed  # the rename (003) committed
    viewless = run(run_case(case, *database_pair, tmp_path / "viewless", tamper=tamper(False)))
    assert "destroyed: partitioned table b removed" in viewless.problems, viewless


def test_a_delete_of_too_many_rows_is_caught_although_clients_raced_it(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Old clients' writes that reference rows the batched DELETE removed before the
    deploy fail on the planned copy by timing alone (as after the naive DELETE) and
    are not client errors; a DELETE that removes more rows than the naive one (and
    cascades to more referencing rows) still fails the proof (the honest plan passes:
    its case in test_corpus.py)."""
    case = load_case(CASES_DIR / "drop-column-then-delete-referenced-rows.toml")
    greedy = _tampered(
        case,
        "_backfill",
        lambda text: text.replace("(id % 4 = 1)", "(id % 2 = 1)"),
        database_pair,
        tmp_path,
    )
    assert greedy.verdict == "differs", greedy
    assert any(p.startswith("table a: ") for p in greedy.problems), greedy
    assert any(p.startswith("table b: ") for p in greedy.problems), greedy


def test_only_data_changes_that_name_no_dropped_column_are_raced() -> None:
    """A client's write after the batches of a data change that reads a column the
    change drops is lost unless synced: that statement stays in what raced rows are
    computed from (none of its rows is accepted as raced), while a DELETE of another
    table beside it is still raced (planner's seed 5601: a row an old client inserted
    after the plan's DELETE was reported as extra)."""
    split = Case(
        id="split",
        schema="",
        seed="",
        change="DELETE FROM b WHERE id % 4 = 1;\n"
        "UPDATE people SET first_name = split_part(name, ' ', 1);\n"
        "ALTER TABLE people DROP COLUMN name",
    )
    racy = sql_without_data_changes(split)
    assert racy is not None
    assert "DELETE" not in racy
    assert "UPDATE people SET first_name = split_part(name, ' ', 1)" in racy
    alone = Case(id="alone", schema="", seed="", change=split.change.split(";\n", 1)[1])
    assert sql_without_data_changes(alone) is None


def test_old_clients_leave_alone_only_the_tables_racing_data_changes_read() -> None:
    """Extra grammar seed 5763: a batched ``UPDATE a ... FROM b`` before the deploy
    point reads b earlier than the naive statement; old clients leave b alone then. A
    data change that carries a column the change drops is no race (what it misses is
    lost): its tables stay written; a DELETE's own table is no table it reads."""

    def read(change: str) -> frozenset[str]:
        return tables_racy_changes_read(Case(id="c", schema="", seed="", change=change))

    update_from = "UPDATE a SET a_c0 = b.b_c0 FROM b WHERE b.id = a.id AND b.id % 2 = 0"
    assert read(f"ALTER TABLE a DROP COLUMN a_c1;\n{update_from}") == {"b"}
    assert read(f"{update_from};\nALTER TABLE b DROP COLUMN b_c0") == set()
    assert read("DELETE FROM ONLY a WHERE id IN (SELECT a_id FROM c JOIN d ON d.id = c.id)") == {
        "c",
        "d",
    }
    assert read("UPDATE a SET a_c0 = 5;\nALTER TABLE a ADD COLUMN x int") == set()


def test_a_batched_update_from_that_skips_rows_is_caught_while_clients_leave_its_source_alone(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The case whose old clients leave b alone while the plan's batches read it: a
    backfill that skips rows is still a difference."""
    case = load_case(CASES_DIR / "update-from-a-table-old-clients-write-then-drop-a-column.toml")
    skipping = _tampered(
        case,
        "_backfill",
        lambda text: text.replace("b.id % 2 = 0)", "b.id % 2 = 0 AND a.id > 12)"),
        database_pair,
        tmp_path,
    )
    assert skipping.verdict == "differs", skipping
    assert any(problem.startswith("table a: ") for problem in skipping.problems), skipping


def test_a_materialized_view_the_change_creates_must_be_populated(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Its rows are a snapshot of another moment than the naive copy's (not compared),
    but a plan that creates it empty (WITH NO DATA: unreadable) fails the proof."""
    case = load_case(CASES_DIR / "create-materialized-view-then-rename-a-column.toml")
    assert snapshots(case) == {"b_mv4"}
    outcome = _tampered(
        case,
        "002_change_expand.up",
        lambda text: text.replace("FROM b;", "FROM b WITH NO DATA;"),
        database_pair,
        tmp_path,
    )
    assert outcome.verdict == "differs"
    assert any("materialized view b_mv4: populated False" in p for p in outcome.problems), outcome


def test_a_case_s_own_old_client_statements_reach_both_copies_and_a_refusal_is_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """``old_client``: the statements run in every old-client window on both copies
    (the rows stay equal); tampered so the expand enforces a check the naive copy does
    not have yet (v > 0), the planned copy refuses the old client's write (v - 100): a
    client error."""
    case = Case(
        id="old-client",
        schema="CREATE TABLE a (id int PRIMARY KEY, v int);",
        seed="INSERT INTO a SELECT g, g FROM generate_series(1, 30) g;",
        change="ALTER TABLE a ADD CONSTRAINT a_v_check CHECK (v > -1000)",
        old_client="DELETE FROM a WHERE id = (SELECT min(id) FROM a); UPDATE a SET v = v - 100",
    )
    outcome = run(run_case(case, *database_pair, tmp_path / "plain"))
    assert outcome.verdict == "equal" and outcome.problems == [], outcome.summary()
    assert outcome.writes >= 2

    def enforce_early(text: str) -> str:
        return text + "\nALTER TABLE a ADD CONSTRAINT a_v_positive CHECK (v > 0) NOT VALID;\n"

    tampered = _tampered(case, "002_change_expand.up", enforce_early, database_pair, tmp_path / "t")
    assert any("old clients" in e and "planned 23514" in e for e in tampered.client_errors), (
        tampered.summary()
    )


def test_writes_a_user_trigger_misses_while_the_plan_runs_are_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The audit trigger of the table disabled from the expand to the contract: the
    audit rows of the old clients' writes in between are missing."""
    case = load_case(CASES_DIR / "rename-an-audited-table-then-add-a-column.toml")

    def tamper(directory: Path) -> None:
        _edit(directory, "002_change_expand.up", lambda text: text + DISABLE)
        _edit(directory, "004_change_contract.up", lambda text: text + ENABLE)

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    assert outcome.verdict == "differs"
    assert any(p.startswith("table audit: ") for p in outcome.problems), outcome


DISABLE = "\nALTER TABLE r2 DISABLE TRIGGER a_audit1;\n"
ENABLE = "\nALTER TABLE r2 ENABLE TRIGGER a_audit1;\n"


def test_audit_rows_a_trigger_missed_are_caught_although_clients_raced_a_batched_delete(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Audit rows that name a row clients wrote while the plan's DELETE ran are
    accepted as raced (extra grammar seed 5765); the audit trigger disabled on the
    planned copy until the contract still loses the audit rows of rows no client wrote."""
    case = load_case(CASES_DIR / "drop-a-column-and-delete-rows-of-an-audited-table.toml")
    honest = run(run_case(case, *database_pair, tmp_path / "honest"))
    assert honest.problems == [] and honest.raced >= 1, honest

    def tamper(directory: Path) -> None:
        _edit(
            directory,
            "001_base.up",
            lambda text: text + "\nALTER TABLE a DISABLE TRIGGER a_audit1;\n",
        )
        _edit(
            directory,
            "_contract.sql",
            lambda text: text + "\nALTER TABLE a ENABLE TRIGGER a_audit1;\n",
        )

    deaf = run(run_case(case, *database_pair, tmp_path / "deaf", tamper=tamper))
    assert deaf.verdict == "differs", deaf
    assert any(p.startswith("table audit: ") for p in deaf.problems), deaf


#: a report whose ``updated`` a trigger sets with the clock (lemmy 0180's ``updated =
#: now()``); an old client updates two reports in every window, other ones each time
#: (a clock value is compared as "set during the run": a second stamp of a row that
#: has one from earlier in the run is not told apart); the change plans as two
#: migrations (the column, then the concurrent index)
CLOCK_SET_BY_A_TRIGGER = Case(
    id="clock-set-by-a-trigger",
    schema="""
CREATE TABLE reports (id int PRIMARY KEY, reason text NOT NULL, updated timestamp);
CREATE FUNCTION reports_updated() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.updated := now(); RETURN NEW; END $$;
CREATE TRIGGER reports_updated BEFORE UPDATE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_updated();
""",
    seed="""
INSERT INTO reports SELECT g, 'reason ' || g, CASE WHEN g % 2 = 0 THEN timestamp '2020-01-01' END
FROM generate_series(1, 60) g;
""",
    change="ALTER TABLE reports ADD COLUMN note text; CREATE INDEX ON reports (reason);",
    # two reports not updated before, in each window
    old_client="""
UPDATE reports SET reason = reason || '.'
WHERE id IN (SELECT id FROM reports WHERE reason NOT LIKE '%.' ORDER BY id LIMIT 2);
""",
)


def test_a_clock_value_a_trigger_sets_on_both_copies_is_compared_as_set(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The trigger stamps each copy's update at its own instant (milliseconds apart):
    both set during the run is equal (findings: lemmy 0182-0190 differed so)."""
    outcome = run(run_case(CLOCK_SET_BY_A_TRIGGER, *database_pair, tmp_path))
    assert outcome.migrations >= 2 and outcome.writes > 0, outcome.summary()
    assert outcome.verdict == "equal" and outcome.problems == [], outcome.summary()


def test_a_clock_value_a_plan_fails_to_set_is_still_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The trigger dropped in the plan's first migration and created again in its
    last: the old client's updates in between leave ``updated`` as it was on the
    planned copy (NULL, or 2020-01-01, from before the run) while the naive copy's is
    set during the run: a difference."""

    def tamper(directory: Path) -> None:
        ups = sorted(p for p in directory.iterdir() if p.name.endswith(".up.sql"))[1:]
        assert len(ups) >= 2, [p.name for p in ups]
        ups[0].write_text(ups[0].read_text() + "\nDROP TRIGGER reports_updated ON reports;\n")
        ups[-1].write_text(
            ups[-1].read_text()
            + "\nCREATE TRIGGER reports_updated BEFORE UPDATE ON reports"
            + " FOR EACH ROW EXECUTE FUNCTION reports_updated();\n"
        )

    outcome = run(run_case(CLOCK_SET_BY_A_TRIGGER, *database_pair, tmp_path, tamper=tamper))
    assert outcome.verdict == "differs", outcome.summary()
    assert any(p.startswith("table reports: ") for p in outcome.problems), outcome.summary()


def test_a_write_the_plan_takes_without_its_foreign_key_is_a_client_error(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The naive copy's foreign key refuses a like of a deleted person; the planned
    copy takes it because the plan dropped the foreign key (added again, NOT VALID,
    in its last migration): no race with a delete explains that, a client error."""
    case = load_case(CASES_DIR / "delete-parents-a-new-client-references-then-set-not-null.toml")

    def tamper(directory: Path) -> None:
        ups = sorted(p for p in directory.iterdir() if p.name.endswith(".up.sql"))[1:]
        ups[0].write_text(
            ups[0].read_text()
            + "\nALTER TABLE person_like DROP CONSTRAINT person_like_person_id_fkey;\n"
        )
        ups[-1].write_text(
            ups[-1].read_text() + "\nALTER TABLE person_like ADD CONSTRAINT "
            "person_like_person_id_fkey FOREIGN KEY (person_id) REFERENCES person "
            "ON DELETE CASCADE NOT VALID;\n"
        )

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    assert any("naive 23503" in e for e in outcome.client_errors), outcome.summary()


def test_a_materialized_view_of_ranks_the_plan_stops_refreshing_is_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The rank shows the clock and is compared as NULL or not; the posts are not: with
    the refresh trigger dropped in the plan's first migration (created again in its
    last), the new clients' posts are missing from the planned copy's view."""
    case = load_case(CASES_DIR / "set-not-null-beside-a-materialized-view-of-ranks.toml")

    def tamper(directory: Path) -> None:
        ups = sorted(p for p in directory.iterdir() if p.name.endswith(".up.sql"))[1:]
        ups[0].write_text(ups[0].read_text() + "\nDROP TRIGGER refresh_post_rank ON post;\n")
        ups[-1].write_text(
            ups[-1].read_text() + "\nCREATE TRIGGER refresh_post_rank AFTER INSERT OR UPDATE"
            " OR DELETE ON post FOR EACH STATEMENT EXECUTE FUNCTION refresh_post_rank();\n"
        )

    outcome = run(run_case(case, *database_pair, tmp_path, tamper=tamper))
    assert any("view post_rank returns other rows" in p for p in outcome.problems), (
        outcome.summary()
    )


def _items(*columns: str) -> Table:
    return Table(
        "items",
        tuple(Column(c, "bigint", "N", False, None, False, False, False, False) for c in columns),
    )


def test_a_new_column_without_the_trigger_that_fills_it_is_caught_and_without_another_not() -> None:
    """After the column exists: a trigger the change adds whose function names it is
    missing (issue 14 #4, F55); one that fills another column is not required yet (it
    commits after an index build: cases/add-a-column-an-index-then-a-trigger-that-
    fills-another-column.toml)."""
    old = Shape({"items": _items("id", "note")}, (), {})
    now = Shape({"items": _items("id", "note", "code")}, (), {})
    sources = {
        ("items", "items_code"): "BEGIN NEW.code := 'c' || NEW.id; RETURN NEW; END",
        ("items", "items_note"): "BEGIN NEW.note := coalesce(NEW.note, 'n'); RETURN NEW; END",
    }
    end = Shape(now.tables, (), {"items": frozenset(name for _, name in sources)}, sources)
    assert _completed_columns(now, old, end) == [
        "items: columns ['code'] exist without trigger items_code"
    ]
    unknown = Shape(now.tables, (), end.triggers)  # no source read: the trigger may write it
    assert len(_completed_columns(now, old, unknown)) == 2


async def _refusal(dsn: str, sql: str) -> asyncpg.PostgresError:
    await empty(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE t (id int, c int);"
            "CREATE FUNCTION t_fill() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.c := coalesce(NEW.c, 5); RETURN NEW; END $$;"
            "CREATE TRIGGER t_fill BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION t_fill();"
            "ALTER TABLE t DROP COLUMN c;"
        )
        with pytest.raises(asyncpg.PostgresError) as refused:
            await conn.execute(sql)
        return refused.value
    finally:
        await conn.close()


def test_only_a_write_a_trigger_refuses_for_a_field_the_naive_change_dropped_is_no_client_error(
    database_pair: tuple[str, str],
) -> None:
    """A trigger function naming a dropped column refuses every write on the naive copy
    (cases/drop-a-column-a-fill-trigger-writes.toml): not the plan's fault. A write
    naming a column that is gone is still a client error (42703 without the trigger)."""
    naive, planned = database_pair
    assert trigger_lost_its_column(run(_refusal(naive, "INSERT INTO t (id) VALUES (1)")))
    assert not trigger_lost_its_column(
        run(_refusal(planned, "INSERT INTO t (id, c) VALUES (1, 2)"))
    )


#: lemmy's cache tables (0056: post_aggregates_fast): a trigger copies each post's row
#: of a view into a table, with a rank computed from the clock (here to the
#: microsecond), on each copy at its own instant; old clients write posts between the
#: plan's two migrations (the column, then the concurrent index)
RANKS_A_TRIGGER_CACHES = Case(
    id="ranks-a-trigger-caches",
    schema="""
CREATE TABLE post (id serial PRIMARY KEY, score int NOT NULL, published timestamptz NOT NULL);
CREATE FUNCTION rank(published timestamptz) RETURNS bigint LANGUAGE sql
    AS $$ SELECT (extract(epoch FROM now() - published) * 1000000)::bigint $$;
CREATE VIEW post_view AS SELECT id, score, rank(published) AS rank FROM post;
CREATE TABLE post_fast AS SELECT * FROM post_view;
ALTER TABLE post_fast ADD PRIMARY KEY (id);
CREATE FUNCTION refresh_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM post_fast WHERE id = NEW.id;
    INSERT INTO post_fast SELECT * FROM post_view WHERE id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER refresh_post AFTER INSERT OR UPDATE ON post
    FOR EACH ROW EXECUTE FUNCTION refresh_post();
""",
    seed="""
INSERT INTO post (score, published)
SELECT g, timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 40) g;
""",
    change="ALTER TABLE post ADD COLUMN note text; CREATE INDEX ON post (score);",
    unwritten=frozenset({"post_fast"}),
)


def test_a_rank_a_trigger_caches_from_the_clock_is_compared_as_set(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Each copy's trigger computes the cached rank at its own instant: both set is
    equal (lemmy 0056 differed so: post_aggregates_fast's hot_rank 2377 against 2378)."""
    outcome = run(run_case(RANKS_A_TRIGGER_CACHES, *database_pair, tmp_path))
    assert outcome.migrations >= 2 and outcome.writes > 0, outcome.summary()
    assert outcome.verdict == "equal" and outcome.problems == [], outcome.summary()


def test_a_rank_a_plan_stops_caching_is_still_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The cache trigger's function replaced in the plan's first migration by one that
    leaves the rank out (restored in its last): the posts old clients write in between
    have no rank on the planned copy."""
    rankless = (
        "\nCREATE OR REPLACE FUNCTION refresh_post() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN DELETE FROM post_fast WHERE id = NEW.id;\n"
        "INSERT INTO post_fast SELECT id, score, NULL FROM post_view WHERE id = NEW.id;\n"
        "RETURN NULL; END $$;\n"
    )
    ranked = rankless.replace("id, score, NULL", "*")

    def tamper(directory: Path) -> None:
        ups = sorted(p for p in directory.iterdir() if p.name.endswith(".up.sql"))[1:]
        assert len(ups) >= 2, [p.name for p in ups]
        ups[0].write_text(ups[0].read_text() + rankless)
        ups[-1].write_text(ups[-1].read_text() + ranked)

    outcome = run(run_case(RANKS_A_TRIGGER_CACHES, *database_pair, tmp_path, tamper=tamper))
    assert outcome.verdict == "differs", outcome.summary()
    assert any(p.startswith("table post_fast: ") for p in outcome.problems), outcome.summary()


#: lemmy 0096's counters: each person deleted decrements every row of site_counts (a
#: trigger), each site inserted adds a row there (another); the plan names a deploy
#: before its batched DELETE (code that writes the key), the naive SQL deletes at it
COUNTED_DELETE = Case(
    id="delete-people-a-trigger-counts",
    schema="""
CREATE TABLE person (id serial PRIMARY KEY, name text NOT NULL, public_key text);
CREATE TABLE site_counts (id serial PRIMARY KEY, users int NOT NULL);
CREATE FUNCTION count_person_delete() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN UPDATE site_counts SET users = users - 1; RETURN NULL; END $$;
CREATE TRIGGER count_person_delete AFTER DELETE ON person
    FOR EACH ROW EXECUTE FUNCTION count_person_delete();
CREATE TABLE site (id serial PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION count_site() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO site_counts (users) VALUES (100); RETURN NULL; END $$;
CREATE TRIGGER count_site AFTER INSERT ON site FOR EACH ROW EXECUTE FUNCTION count_site();
""",
    seed="""
INSERT INTO person (name, public_key)
SELECT 'person ' || g, CASE WHEN g <= 5 THEN 'key ' || g END FROM generate_series(1, 200) g;
INSERT INTO site_counts (users) VALUES (200);
INSERT INTO site (name) VALUES ('site');
""",
    change="""
DELETE FROM person WHERE public_key IS NULL;
ALTER TABLE person ALTER COLUMN public_key SET NOT NULL;
""",
)


def test_counters_a_batched_delete_s_trigger_changes_are_left_alone_by_clients(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """A row a client adds to site_counts (directly, or by inserting a site) after the
    naive DELETE ran (at the deploy) and before the plan's batches is decremented by
    the batches only: clients leave the tables the data change's triggers write, and
    those whose triggers add rows there, alone while the batches are to run."""
    outcome = run(run_case(COUNTED_DELETE, *database_pair, tmp_path))
    assert outcome.migrations >= 3 and outcome.writes > 0, outcome.summary()
    assert outcome.verdict == "equal" and outcome.problems == [], outcome.summary()


def test_counts_a_plan_s_batched_delete_misses_are_still_caught(
    database_pair: tuple[str, str], tmp_path: Path
) -> None:
    """The counting trigger disabled on the planned copy until the contract: its
    batched delete decrements nothing."""

    def tamper(directory: Path) -> None:
        _edit(
            directory,
            "001_base.up",
            lambda text: text + "\nALTER TABLE person DISABLE TRIGGER count_person_delete;\n",
        )
        _edit(
            directory,
            "contract_checks.up",
            lambda text: text + "\nALTER TABLE person ENABLE TRIGGER count_person_delete;\n",
        )

    outcome = run(run_case(COUNTED_DELETE, *database_pair, tmp_path, tamper=tamper))
    assert outcome.verdict == "differs", outcome.summary()
    assert any(p.startswith("table site_counts: ") for p in outcome.problems), outcome.summary()
