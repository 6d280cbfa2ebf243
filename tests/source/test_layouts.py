"""Each layout's quirks, read without a database: detection, names, versions and their
order, sections, transaction markers, ignored files, and what ``migrate new`` writes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.config import LAYOUT_NAMES as CONFIG_LAYOUT_NAMES
from migrator.errors import SourceError, UsageError
from migrator.runner.scaffold import create_migration
from migrator.source import discover, require_runnable
from migrator.source.layouts import LAYOUT_NAMES
from migrator.source.versions import (
    diesel_key,
    diesel_text,
    flyway_key,
    flyway_parts,
    flyway_text,
    format_key,
    version_key,
)

NOW = datetime(2026, 11, 22, 15, 30, 0, tzinfo=UTC)


def write(directory: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return directory


def statements(text: str | None) -> list[str]:
    from migrator.sql.split import split_statements

    return [s.text for s in split_statements(text or "").statements]


def test_config_and_source_agree_on_the_layout_names() -> None:
    assert sorted(CONFIG_LAYOUT_NAMES) == sorted(LAYOUT_NAMES)


# -- empty files -----------------------------------------------------------------------


def test_empty_and_comment_only_files_are_no_ops_not_problems(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "001_a.up.sql": "create table a (id int);",
            "001_a.down.sql": "",
            "002_b.up.sql": "-- nothing yet\n\n",
            "002_b.down.sql": "  \n\t\n",
        },
    )
    found = discover(tmp_path)
    assert found.problems == ()
    require_runnable(found)
    (first, second) = found.migrations
    assert first.reversible and first.down is not None and first.down.empty
    assert not first.up.empty
    assert second.up.empty and second.down is not None and second.down.empty


# -- ordering keys ----------------------------------------------------------------------


def test_flyway_versions_compare_part_by_part() -> None:
    texts = ["1_10", "1_2", "1.1", "2", "1_2_1", "17.1", "1_9"]
    ordered = sorted(texts, key=flyway_key)
    assert ordered == ["1.1", "1_2", "1_2_1", "1_9", "1_10", "2", "17.1"]
    assert flyway_key("1.0") == flyway_key("1") == flyway_key("1_0_0")


parts = st.lists(st.integers(0, 999_999), min_size=1, max_size=9)


@given(parts, parts)
def test_flyway_key_orders_as_flyway_compares(a: list[int], b: list[int]) -> None:
    """Differential: Flyway compares parts with missing ones as zero."""

    def flyway_compare(x: list[int], y: list[int]) -> int:
        width = max(len(x), len(y))
        xs, ys = x + [0] * (width - len(x)), y + [0] * (width - len(y))
        return (xs > ys) - (xs < ys)

    text_a, text_b = ".".join(map(str, a)), "_".join(map(str, b))
    key_a, key_b = flyway_key(text_a), flyway_key(text_b)
    assert ((key_a > key_b) - (key_a < key_b)) == flyway_compare(a, b)
    assert flyway_parts(flyway_text(key_a)) == flyway_parts(text_a)


@given(st.lists(st.text("0123456789", min_size=1, max_size=24), min_size=2, max_size=2))
def test_diesel_key_orders_as_diesel_sorts_version_text(texts: list[str]) -> None:
    """Differential: diesel sorts its version strings as text; ties only where one is
    the other with trailing zeros."""
    a, b = texts
    key_a, key_b = diesel_key(a), diesel_key(b)
    if a.rstrip("0") == b.rstrip("0") or a.ljust(24, "0") == b.ljust(24, "0"):
        assert key_a == key_b
    else:
        assert (key_a < key_b) == (a < b)


def test_diesel_keys_read_back_as_timestamps() -> None:
    assert diesel_text(diesel_key("2019-09-12-100000")) == "20190912100000"
    assert diesel_key("00000000000000") == 0
    assert format_key("diesel", diesel_key("20190912100000")) == "20190912100000"


@pytest.mark.parametrize("text", ["٣", "\uff17", "1a", "", "-1"])
def test_versions_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(UsageError):
        version_key("digits", text)


def test_flyway_versions_beyond_the_key_are_refused_with_the_limit() -> None:
    assert flyway_key("1.2.3.4.5.6.7.8.9") < flyway_key("1.2.3.4.5.6.7.8.10")
    with pytest.raises(UsageError, match="at most 9 parts"):
        flyway_key("1.2.3.4.5.6.7.8.9.10")
    with pytest.raises(UsageError, match="below 1000000"):
        flyway_key("1.1000000")


# -- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "layout"),
    [
        ({"001_a.up.sql": "select 1;", "001_a.down.sql": "select 1;"}, "migrator"),
        ({"20200101000000_a.sql": "-- migrate:up\nselect 1;\n-- migrate:down\n"}, "dbmate"),
        ({"20200101000000_a.sql": "-- +goose Up\nselect 1;\n"}, "goose"),
        ({"V1__a.sql": "select 1;"}, "flyway"),
        ({"R__a.sql": "select 1;"}, "flyway"),
        ({"sql/R__a.sql": "select 1;", "README.md": ""}, "flyway"),
        ({"sql/U1__a.sql": "select 1;", "sql/notes.txt": ""}, "flyway"),
        ({"2019-09-12-100000_a/up.sql": "select 1;"}, "diesel"),
        ({}, "migrator"),
    ],
)
def test_the_layout_is_detected_from_the_directory(
    tmp_path: Path, files: dict[str, str], layout: str
) -> None:
    assert discover(write(tmp_path, files)).layout == layout
    assert discover(tmp_path).layout_origin == "detected"


_NAMES = st.sampled_from(
    [
        "V1__a.sql", "U1__a.sql", "R__a.sql", "V__x.sql", "v1__a.sql", "V1_2__b.sql",
        "20200101000000_a.sql", "001_a.sql", "0_a.sql", "9a.sql", "٣_b.sql",
        "001_a.up.sql", "001_a.down.sql", "up.sql", "down.sql", "x.sql", "001_a.go",
        "V1__a.txt", "README.md",
    ]
)  # fmt: skip
_FOLDERS = st.sampled_from(["", "sub/", "2019-09-12-100000_a/"])
_CONTENTS = st.sampled_from(["select 1;", "-- migrate:up\nselect 1;\n", "-- +goose Up\nselect 1;"])


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(st.tuples(_FOLDERS, _NAMES, _CONTENTS), min_size=1, max_size=4))
def test_a_layout_claims_only_directories_its_cheap_test_passes(
    tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[str, str, str]]
) -> None:
    """Detection imports a layout's module only when the registry's cheap test passes:
    that test must pass for every directory the layout claims."""
    from migrator.source.layouts import _REGISTRY, named
    from migrator.source.layouts.base import list_directory

    directory = tmp_path_factory.mktemp("listing")
    for folder, name, content in entries:
        write(directory, {folder + name: content})
    listing = list_directory(directory)
    for layout_name, (_, _, may_claim) in _REGISTRY.items():
        if may_claim is not None and named(layout_name).claims(listing):
            assert may_claim(listing), (layout_name, listing)


def test_a_listing_of_wanted_names_leaves_the_others_out(tmp_path: Path) -> None:
    from migrator.source.layouts.base import list_directory

    write(
        tmp_path, {"V1__a.sql": "", "R__b.sql": "", "1_c.sql": "", "V2/x.sql": "", ".V3__d.sql": ""}
    )
    listing = list_directory(tmp_path, lambda name: name.startswith("V"))
    assert (listing.files, listing.folders) == (("V1__a.sql",), ("V2",))


def test_two_layouts_at_once_are_refused_until_one_is_named(tmp_path: Path) -> None:
    write(tmp_path, {"V1__a.sql": "select 1;", "2019-09-12-100000_a/up.sql": "select 2;"})
    with pytest.raises(SourceError, match="several layouts") as raised:
        discover(tmp_path)
    assert "--layout" in str(raised.value.hint)
    named = discover(tmp_path, "flyway", origin="flag")
    assert (named.layout, named.layout_origin, len(named.migrations)) == ("flyway", "flag", 1)


def test_flyway_beside_migrator_pairs_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"V1__a.sql": "select 1;", "002_b.up.sql": "select 2;"})
    with pytest.raises(SourceError, match="flyway"):
        discover(tmp_path)


# -- migrator / golang-migrate / sqlx ---------------------------------------------------


def test_editor_backups_and_other_names_are_ignored_and_listed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "001_u.up.sql": "select 1;",
            "001_u.sql~": "select 2;",
            "001_u.up.sql.orig": "select 3;",
            "001_u.up.sql.swp": "x",
            ".001_u.up.sql.swp": "x",
            "README.md": "docs",
            "notes/x.txt": "y",
        },
    )
    found = discover(tmp_path)
    assert found.problems == ()
    assert [m.label for m in found.migrations] == ["001_u"]
    assert sorted(p.name for p in found.ignored) == [
        "001_u.sql~",
        "001_u.up.sql.orig",
        "001_u.up.sql.swp",
        "README.md",
        "notes",
    ]


def test_non_ascii_digit_versions_are_refused_and_do_not_collide(tmp_path: Path) -> None:
    write(tmp_path, {"003_a.sql": "select 1;", "٣_b.sql": "select 2;", "\uff17_c.sql": "select 3;"})
    found = discover(tmp_path)
    assert [m.label for m in found.migrations] == ["003_a"]
    assert len(found.problems) == 2
    assert all("not in ASCII digits 0-9" in problem for problem in found.problems)
    assert not any("more than one migration" in problem for problem in found.problems)


def test_names_with_control_characters_are_refused_escaped(tmp_path: Path) -> None:
    write(tmp_path, {"001_a.sql": "select 1;", "002_\x1b[31mred.sql": "select 2;"})
    (problem,) = discover(tmp_path).problems
    assert "002_\\x1b[31mred.sql" in problem and "\x1b" not in problem


def test_sqlx_no_transaction_first_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "1_idx.up.sql": "-- no-transaction\ncreate index concurrently i on t (a);\n",
            "1_idx.down.sql": "drop index i;\n",
            "2_later.sql": "select 1;\n-- no-transaction\n",
        },
    )
    found = discover(tmp_path)
    first, second = found.migrations
    assert not first.up.transactional and first.down is not None and first.down.transactional
    assert second.up.transactional  # only the first line counts
    require_runnable(found)


# -- dbmate -----------------------------------------------------------------------------


def test_dbmate_sections_keep_line_numbers_and_options(tmp_path: Path) -> None:
    text = (
        "-- a comment before the marker\n"
        "-- migrate:up transaction:false\n"
        "create index concurrently i on t (a);\n"
        "\n"
        "-- migrate:down\n"
        "drop index i;\n"
    )
    write(tmp_path, {"20200101000000_idx.sql": text})
    (migration,) = discover(tmp_path).migrations
    assert (migration.version, migration.name) == (20200101000000, "idx")
    assert migration.up.path == migration.down.path if migration.down else False
    assert not migration.up.transactional
    assert migration.down is not None and migration.down.transactional
    assert statements(migration.up.text) == ["create index concurrently i on t (a)"]
    assert migration.up.statements[0].line == 3
    assert statements(migration.down.text) == ["drop index i"]
    assert migration.down.statements[0].line == 6
    assert migration.up.checksum == hashlib.sha256(migration.up.text.encode()).hexdigest()
    assert migration.up.checksum != migration.down.checksum


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("create table t (id int);\n-- migrate:up\nselect 1;\n", "SQL before `-- migrate:up`"),
        ("-- migrate:down\nselect 1;\n-- migrate:up\nselect 2;\n", "stands before"),
        ("select 1;\n", "without a `-- migrate:up`"),
    ],
)
def test_dbmate_files_dbmate_refuses_are_refused(tmp_path: Path, text: str, says: str) -> None:
    write(tmp_path, {"1_a.sql": "-- migrate:up\nselect 1;\n", "2_b.sql": text})
    found = discover(tmp_path, "dbmate")
    (problem,) = found.problems
    assert "2_b.sql" in problem and says in problem


def test_dbmate_without_down_section_has_nothing_to_undo(tmp_path: Path) -> None:
    write(tmp_path, {"1_a.sql": "-- migrate:up\ncreate table a (id int);\n"})
    (migration,) = discover(tmp_path).migrations
    assert migration.down is not None and migration.down.empty


# -- goose ------------------------------------------------------------------------------


def test_goose_annotations_with_trailing_spaces_and_any_case(tmp_path: Path) -> None:
    text = (
        "-- +goose NO TRANSACTION \n"
        "-- +goose Up \n"
        "CREATE INDEX CONCURRENTLY i ON t (a);\n"
        "-- +goose Down   \n"
        "DROP INDEX CONCURRENTLY i;\n"
    )
    other = "-- +goose no transaction\n-- +goose Up\nselect 1;\n"
    write(tmp_path, {"20230101000000_a.sql": text, "20230101000001_b.sql": other})
    first, second = discover(tmp_path).migrations
    assert not first.up.transactional and first.down is not None
    assert not first.down.transactional
    assert statements(first.up.text) == ["CREATE INDEX CONCURRENTLY i ON t (a)"]
    assert statements(first.down.text) == ["DROP INDEX CONCURRENTLY i"]
    assert not second.up.transactional
    assert second.down is not None and second.down.empty  # no Down: nothing to undo


def test_goose_statement_block_ends_at_statement_end(tmp_path: Path) -> None:
    text = (
        "-- +goose Up\n"
        "-- +goose StatementBegin\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN RETURN 1; END;\n"
        "$$\n"
        "-- +goose StatementEnd\n"
        "SELECT f();\n"
        "-- +goose Down\n"
        "DROP FUNCTION f();\n"
    )
    write(tmp_path, {"1_f.sql": text})
    (migration,) = discover(tmp_path).migrations
    assert migration.up.problems == ()
    assert [s.split("(")[0] for s in statements(migration.up.text)] == [
        "CREATE FUNCTION f",
        "SELECT f",
    ]
    assert migration.up.statements[1].line == 7


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("select 1;\n-- +goose Up\n", "SQL before `-- +goose Up`"),
        ("-- +goose Up\n-- +goose StatementBegin\nselect 1;\n", "without StatementEnd"),
        ("-- +goose Up\nselect 1;\n-- +goose Up\n", "a second `-- +goose Up`"),
        ("-- +goose Up\n-- +goose ENVSUB ON\nselect '${X}';\n", "not supported"),
    ],
)
def test_goose_files_goose_refuses_are_refused(tmp_path: Path, text: str, says: str) -> None:
    write(tmp_path, {"1_a.sql": "-- +goose Up\nselect 1;\n", "2_b.sql": text})
    (problem,) = discover(tmp_path, "goose").problems
    assert "2_b.sql" in problem and says in problem


# -- Flyway -----------------------------------------------------------------------------


def test_flyway_names_undo_and_ignored_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "V1_10__ten.sql": "select 10;",
            "V1_2__two.sql": "select 2;",
            "U1_2__two.sql": "select -2;",
            "V1_1__one.sql": "select 1;",
            "V1_1__one.sql.conf": "executeInTransaction=false\n",
            "README.txt": "not a migration",
            "notes.sql": "select 0;",
        },
    )
    found = discover(tmp_path)
    assert found.layout == "flyway" and found.problems == ()
    assert [(m.version_text, m.name, m.reversible) for m in found.migrations] == [
        ("1_1", "one", False),
        ("1_2", "two", True),
        ("1_10", "ten", False),
    ]
    assert not found.migrations[0].up.transactional
    assert {p.name for p in found.ignored} == {"README.txt", "notes.sql", "V1_1__one.sql.conf"}
    assert found.version_key("1.10") == found.migrations[2].version
    assert found.version_text(found.migrations[2].version) == "1_10"


def test_flyway_duplicate_versions_are_refused_at_each_file(tmp_path: Path) -> None:
    write(tmp_path, {"V1__a.sql": "select 1;", "V1.0__b.sql": "select 2;"})
    problems = discover(tmp_path).problems
    assert [problem.split(": ")[0] for problem in problems] == [
        str(tmp_path / "V1.0__b.sql"),
        str(tmp_path / "V1__a.sql"),
    ]
    for problem in problems:
        assert "more than one migration" in problem
        assert "1, 1.0: Flyway compares versions part by part as numbers" in problem


@pytest.mark.parametrize(
    "callback", ["afterMigrate.sql", "beforeEachMigrate__grants.sql", "afterMigrateError.sql"]
)
def test_a_flyway_sql_callback_is_refused_not_skipped(tmp_path: Path, callback: str) -> None:
    write(tmp_path, {"V1__a.sql": "select 1;", callback: "GRANT SELECT ON a TO PUBLIC;"})
    (problem,) = discover(tmp_path).problems
    assert problem.startswith(f"{tmp_path / callback}: a Flyway SQL callback"), problem


@pytest.mark.parametrize(
    ("text", "line", "placeholder"),
    [
        ("CREATE TABLE ${table} (id int);", 1, "${table}"),
        ("CREATE TABLE a (id int);\nINSERT INTO a VALUES ('${flyway:user}');", 2, "${flyway:user}"),
    ],
)
def test_a_flyway_placeholder_is_refused_not_run_as_written(
    tmp_path: Path, text: str, line: int, placeholder: str
) -> None:
    write(tmp_path, {"V1__a.sql": text})
    (problem,) = discover(tmp_path).problems
    assert problem.startswith(f"{tmp_path / 'V1__a.sql'}:{line}: Flyway placeholder {placeholder}")


def test_flyway_repeatables_come_after_every_version_by_description(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "R__views.sql": "select 3;",
            "V99999999999999__last.sql": "select 2;",
            "R__Functions.sql": "select 4;",
            "V1__a.sql": "select 1;",
        },
    )
    found = discover(tmp_path)
    assert found.problems == ()
    assert [(m.label, m.repeatable) for m in found.migrations] == [
        ("1_a", False),
        ("99999999999999_last", False),
        ("R__Functions", True),
        ("R__views", True),
    ]
    assert found.version_key("R__views") == found.migrations[-1].version
    assert format_key("flyway", found.migrations[-1].version) == "R__views"


# -- diesel -----------------------------------------------------------------------------


def test_diesel_folders_odd_timestamps_metadata_and_stray_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "00000000000000_diesel_initial_setup/up.sql": "select 0;",
            "00000000000000_diesel_initial_setup/down.sql": "",
            "2020-12-31-000000_last_of_year/up.sql": "select 1;",
            "2020-12-31-000000_last_of_year/down.sql": "select 1;",
            "2020-12-7-190800_x/up.sql": "select 2;",
            "2021-01-01-000000_new_year/up.sql": "select 3;",
            "2021-01-01-000000_new_year/metadata.toml": "run_in_transaction = false\n",
            "2021-01-01-000000_new_year/README.md": "notes",
            "2023-05-23-1715-update-x/up.sql": "select 4;",
            "2023-05-23-1715-update-x/metadata.toml": "# a comment only\n",
            "2024-01-01-000000_not_a_migration/notes.txt": "a folder without SQL",
            ".keep": "",
            "README.md": "docs",
        },
    )
    found = discover(tmp_path)
    assert found.layout == "diesel" and found.problems == ()
    assert [m.label for m in found.migrations] == [
        "00000000000000_diesel_initial_setup",
        "2020-12-31-000000_last_of_year",
        "2020-12-7-190800_x",  # diesel sorts version text: 2020127... after 20201231...
        "2021-01-01-000000_new_year",
        "2023-05-23-1715_update-x",
    ]
    first, _, odd, new_year, update = found.migrations
    assert first.version == 0 and first.down is not None and first.down.empty
    assert odd.down is None
    assert not new_year.up.transactional
    assert not update.up.transactional  # metadata.toml without the key: false, as diesel
    assert {p.name for p in found.ignored} == {"README.md", "2024-01-01-000000_not_a_migration"}
    assert found.version_key("2020-12-31-000000") == found.migrations[1].version
    assert found.version_key("0") == 0


@pytest.mark.parametrize(
    ("files", "says"),
    [
        (  # diesel refuses a folder without up.sql; this one is a migration missing it
            {"2024-01-01-000000_no_up/down.sql": "select 5;"},
            "2024-01-01-000000_no_up: has a down.sql but no up.sql",
        ),
        (  # diesel cannot read it and runs the file in a transaction, whatever it says
            {"2024-01-01-000000_x/metadata.toml": '# no\nrun_in_transaction = "false"\n'},
            "2024-01-01-000000_x/metadata.toml:2: run_in_transaction = 'false' is not a "
            "TOML boolean",
        ),
        (
            {"2024-01-01-000000_x/metadata.toml": "run_in_transaction = flase\n"},
            "2024-01-01-000000_x/metadata.toml:1: not valid TOML",
        ),
        (
            {"2024-01-01-000000_x/metadata.toml": b"run_in_transaction = false # \xff\n"},
            "2024-01-01-000000_x/metadata.toml: not UTF-8 text",
        ),
    ],
)
def test_diesel_folders_diesel_would_misread_are_refused(
    tmp_path: Path, files: dict[str, str | bytes], says: str
) -> None:
    write(tmp_path, {"2023-01-01-000000_first/up.sql": "select 1;", **files})
    for name in files:
        if name.endswith("metadata.toml"):
            (tmp_path / name).parent.joinpath("up.sql").write_text("select 2;")

    found = discover(tmp_path)

    assert found.layout == "diesel"
    assert [problem for problem in found.problems if says in problem], found.problems
    assert "diesel" in found.problems[0]


# -- migrate new ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "written"),
    [
        ({"003_a.up.sql": ""}, ["004_users.up.sql", "004_users.down.sql"]),
        ({"1_a.sql": "-- migrate:up\n"}, ["2_users.sql"]),
        ({"20200101000000_a.sql": "-- +goose Up\n"}, ["20261122153000_users.sql"]),
        ({"V1_9__a.sql": "", "V1_10__b.sql": ""}, ["V1_11__users.sql"]),
        (
            {"2019-09-12-100000_a/up.sql": ""},
            ["2026-11-22-153000_users/up.sql", "2026-11-22-153000_users/down.sql"],
        ),
    ],
)
def test_migrate_new_writes_in_the_directory_layout(
    tmp_path: Path, files: dict[str, str], written: list[str]
) -> None:
    write(tmp_path, files)
    before = discover(tmp_path)
    paths = create_migration(tmp_path, "Users", now=NOW)
    assert [str(p.relative_to(tmp_path)) for p in paths] == written
    after = discover(tmp_path)
    assert after.layout == before.layout and after.problems == ()
    assert len(after.migrations) == len(before.migrations) + 1
    assert after.migrations[-1].name == "users"


def test_migrate_new_without_transaction_uses_the_layout_marker(tmp_path: Path) -> None:
    write(tmp_path, {"1_a.sql": "-- +goose Up\nselect 1;\n"})
    create_migration(tmp_path, "idx", transactional=False, now=NOW)
    assert not discover(tmp_path).migrations[-1].up.transactional
    diesel = tmp_path / "diesel"
    write(diesel, {"2019-09-12-100000_a/up.sql": ""})
    create_migration(diesel, "idx", transactional=False, now=NOW)
    assert not discover(diesel).migrations[-1].up.transactional


def test_plan_refuses_a_directory_of_another_layout(tmp_path: Path) -> None:
    from migrator.plan.planner import plan_file

    migrations = write(tmp_path / "m", {"2019-09-12-100000_a/up.sql": "create table a (id int);"})
    change = tmp_path / "change.sql"
    change.write_text("alter table a add column b int;\n")
    with pytest.raises(UsageError, match="is a diesel directory"):
        plan_file(change, migrations)


def test_layout_comes_from_the_flag_the_environment_or_pyproject(tmp_path: Path) -> None:
    from tests.helpers import run_cli

    flag = run_cli("--dir", str(tmp_path / "a"), "--layout", "dbmate", "new", "users")
    assert flag.code == 0, flag.output
    assert (tmp_path / "a" / "001_users.sql").read_text().startswith("-- migrate:up")
    after = run_cli("new", "users", "--dir", str(tmp_path / "b"), "--layout", "goose")
    assert after.code == 0 and (tmp_path / "b" / "001_users.sql").exists(), after.output
    env = run_cli("--dir", str(tmp_path / "c"), "new", "x", env={"MIGRATOR_LAYOUT": "flyway"})
    assert env.code == 0 and (tmp_path / "c" / "V1__x.sql").exists(), env.output
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.migrator]\nmigrations-dir = "db"\nlayout = "diesel"\n'
    )
    configured = run_cli("new", "users", cwd=project, env={"MIGRATOR_LAYOUT": None})
    assert configured.code == 0, configured.output
    (folder,) = (project / "db").iterdir()
    assert folder.name.endswith("_users") and (folder / "up.sql").is_file()
    assert discover(project / "db").layout == "diesel"
    wrong = run_cli("--dir", str(tmp_path / "d"), "--layout", "liquibase", "new", "x")
    assert wrong.code == 2 and "unknown layout 'liquibase'" in wrong.stderr, wrong.output


@pytest.mark.parametrize(
    ("files", "layout", "found"),
    [
        ({"001_a.up.sql": "select 1;", "001_a.down.sql": "select 2;"}, "flyway", "migrator"),
        ({"V1__a.sql": "select 1;", "V2__b.sql": "select 2;"}, "diesel", "flyway"),
        ({"2020-01-01-000000_a/up.sql": "select 1;"}, "flyway", "diesel"),
    ],
)
def test_a_given_layout_that_finds_nothing_where_another_finds_migrations_is_a_problem(
    tmp_path: Path, files: dict[str, str], layout: str, found: str
) -> None:
    """Every command would see an empty directory: `up` doing nothing, lint passing."""
    write(tmp_path, files)
    (problem,) = discover(tmp_path, layout, origin="flag").problems
    assert f"a {found} migration, one of" in problem and f"the {layout} layout given" in problem
    assert discover(tmp_path).problems == ()  # detected: read as what it is


def test_a_given_layout_on_an_empty_directory_is_no_problem(tmp_path: Path) -> None:
    assert discover(tmp_path, "flyway", origin="flag").problems == ()


@pytest.mark.parametrize(
    ("conf", "transactional"),
    [
        ("executeInTransaction=false\n", False),
        ("# a comment\nexecuteInTransaction = FALSE\n", False),
        ("executeInTransaction: False\n", False),
        ("executeInTransaction=true\n", True),
        ("encoding=UTF-8\n", True),
    ],
)
def test_a_flyway_script_config_is_read_as_flyway_reads_it(
    tmp_path: Path, conf: str, transactional: bool
) -> None:
    write(tmp_path, {"V1__a.sql": "select 1;", "V1__a.sql.conf": conf})
    (migration,) = discover(tmp_path).migrations
    assert migration.up.transactional is transactional


def test_a_flyway_script_config_that_is_neither_true_nor_false_is_refused(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"V1__a.sql": "select 1;", "V1__a.sql.conf": "executeInTransaction=no\n"})
    (problem,) = discover(tmp_path).problems
    assert problem.startswith(f"{tmp_path / 'V1__a.sql.conf'}:1: executeInTransaction=no")


def test_a_flyway_script_without_placeholder_replacement_keeps_its_dollar_braces(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "V1__a.sql": "SELECT '${not_a_placeholder}';",
            "V1__a.sql.conf": "placeholderReplacement=false\n",
        },
    )
    found = discover(tmp_path)
    assert found.problems == () and len(found.migrations) == 1
