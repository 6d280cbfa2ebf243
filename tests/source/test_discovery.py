"""Discovering a migration directory: naming, pairing, reading, and reporting every problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.errors import SourceError
from migrator.source import discover, require_runnable


def write(directory: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


def test_pairs_up_and_down_and_orders_versions_by_integer_value(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "10_ten.up.sql": "create table ten (id int);",
            "10_ten.down.sql": "drop table ten;",
            "9_nine.up.sql": "create table nine (id int);",
            "9_nine.down.sql": "drop table nine;",
            "0011_eleven.sql": "create table eleven (id int);",
            "README.md": "not a migration",
        },
    )
    found = discover(tmp_path)
    assert found.problems == ()
    assert [(m.version, m.name, m.reversible) for m in found.migrations] == [
        (9, "nine", True),
        (10, "ten", True),
        (11, "eleven", False),
    ]
    assert found.migrations[2].version_text == "0011"


def test_golang_migrate_layout_works_unchanged(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "1_create_users_table.up.sql": "CREATE TABLE users (id int);",
            "1_create_users_table.down.sql": "DROP TABLE users;",
            "20260101120000_add_email.up.sql": "ALTER TABLE users ADD COLUMN email text;",
            "20260101120000_add_email.down.sql": "ALTER TABLE users DROP COLUMN email;",
        },
    )
    assert [m.version for m in discover(tmp_path).migrations] == [1, 20260101120000]


def test_every_problem_is_reported_at_once_with_its_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "001_a.up.sql": "select 1;",
            "1_b.up.sql": "select 1;",
            "002_orphan.down.sql": "select 1;",
            "003-bad-name.sql": "select 1;",
            "004_empty.up.sql": "  \n",
            "005_latin1.up.sql": b"select '\xe9';",
            "006_ok.up.sql": "select 1;",
            "006_other.down.sql": "select 1;",
            "007_.up.sql": "select 1;",
        },
    )
    problems = discover(tmp_path).problems
    joined = "\n".join(problems)
    for name, other in (("001_a.up.sql", "1_b.up.sql"), ("1_b.up.sql", "001_a.up.sql")):
        assert (
            f"{tmp_path / name}: version 1 is used by more than one migration (also {other})"
            in joined
        )
    assert f"{tmp_path / '002_orphan.down.sql'}: down migration has no up migration" in joined
    assert f"{tmp_path / '003-bad-name.sql'}: name does not parse" in joined
    assert "004_empty" not in joined  # an empty file is a no-op, not a problem
    assert f"{tmp_path / '005_latin1.up.sql'}: not UTF-8" in joined
    assert "006_other.down.sql: down migration's name does not match" in joined
    assert f"{tmp_path / '007_.up.sql'}: name does not parse" in joined
    assert len(problems) == 7  # the duplicate version at each of its two files
    with pytest.raises(SourceError) as raised:
        require_runnable(discover(tmp_path))
    assert len(raised.value.problems) == 7


def test_checksum_is_sha256_of_the_text_with_newline_line_ends(tmp_path: Path) -> None:
    """A file saved with ``\\n`` and no BOM: the SHA-256 of its bytes. The same SQL
    with ``\\r\\n`` line ends or a BOM (a Windows checkout, an editor) has the same
    checksum, as Flyway's line-based checksum has; any other change is drift."""
    import hashlib

    content = b"create table t (id int);\n-- done\n"
    variants = {
        "lf": content,
        "crlf": content.replace(b"\n", b"\r\n"),
        "bom": b"\xef\xbb\xbf" + content,
        "bom-crlf": b"\xef\xbb\xbf" + content.replace(b"\n", b"\r\n"),
    }
    checksums = {}
    for name, data in variants.items():
        folder = tmp_path / name
        folder.mkdir()
        write(folder, {"1_t.sql": data})
        (migration,) = discover(folder).migrations
        checksums[name] = migration.up.checksum
    assert set(checksums.values()) == {hashlib.sha256(content).hexdigest()}
    (tmp_path / "edited").mkdir()
    write(tmp_path / "edited", {"1_t.sql": content.replace(b"done", b"Done")})
    (edited,) = discover(tmp_path / "edited").migrations
    assert edited.up.checksum != checksums["lf"]


def test_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        discover(tmp_path / "nope")


def test_symlink_leaving_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.sql"
    outside.write_text("select 1;")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    os.symlink(outside, migrations / "001_link.up.sql")
    (migrations / "001_link.down.sql").write_text("select 1;")
    (problem,) = discover(migrations).problems  # and no "down has no up" for its partner
    assert "001_link.up.sql: symlink points outside" in problem


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {"001_secret.sql": "select 1;"})
    (tmp_path / "001_secret.sql").chmod(0)
    code = "import sys; from migrator.source import discover; print(discover(sys.argv[1]).problems)"
    command = [sys.executable, "-c", code, str(tmp_path)]
    if os.geteuid() == 0:
        # root reads anything: drop the capabilities that let it ignore permission bits
        command = [
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            *command,
        ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "001_secret.sql: permission denied" in out


def test_transactional_file_with_concurrently_is_refused_naming_the_directive(
    tmp_path: Path,
) -> None:
    write(
        tmp_path, {"001_idx.sql": "create table t (a int);\ncreate index concurrently i on t (a);"}
    )
    with pytest.raises(SourceError) as raised:
        require_runnable(discover(tmp_path))
    (line,) = raised.value.problems
    assert "001_idx.sql:2" in line and "-- migrate:no-transaction" in line


def test_concurrently_alone_in_an_unmarked_file_runs_outside_a_transaction(
    tmp_path: Path,
) -> None:
    write(
        tmp_path, {"001_idx.sql": "-- golang-migrate style\ncreate index concurrently i on t (a);"}
    )
    migration_set = discover(tmp_path)
    require_runnable(migration_set)
    (migration,) = migration_set.migrations
    assert not migration.up.transactional
    assert migration.up.directives.transactional  # no directive: the statement decides


def test_psql_meta_command_and_copy_from_stdin_are_refused_with_line_numbers(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "001_psql.sql": "select 1;\n\\connect other\n",
            "002_copy.sql": "create table t (a int);\ncopy t (a) from stdin;\n",
        },
    )
    with pytest.raises(SourceError) as raised:
        require_runnable(discover(tmp_path))
    joined = "\n".join(raised.value.problems)
    assert "001_psql.sql:2: psql meta-command \\connect is not SQL" in joined
    assert "002_copy.sql:2: COPY ... FROM stdin" in joined


def test_names_checksums_and_header_directives_are_read_without_parsing_sql(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "001_a.up.sql": "-- migrate:phase expand\n/* -- migrate:phase contract */\nselect 1;",
            "001_a.down.sql": "select 2;",
        },
    )
    (migration,) = discover(tmp_path).migrations
    assert migration.phase == "expand"  # the one in a block comment is no directive
    assert migration.up.checksum and migration.down is not None and migration.down.checksum
    for migration_file in migration.files():
        assert "split" not in vars(migration_file)  # status and verify parse no SQL
    assert [s.text for s in migration.up.statements] == ["select 1"]
    assert "split" in vars(migration.up)


def test_a_directive_after_a_statement_is_read_from_the_parsed_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "001_a.up.sql": "select 1;\n-- migrate:phase expand\nselect '-- migrate:phase x';",
        },
    )
    (migration,) = discover(tmp_path).migrations
    assert migration.phase is None
    (problem,) = migration.up.problems
    assert (problem.code, problem.line) == ("misplaced-directive", 2)


def test_a_nul_byte_is_refused_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, {"001_nul.sql": b"select 1;\nselect 2;\x00 drop table users;\n"})
    (problem,) = discover(tmp_path).problems
    assert problem.startswith(f"{tmp_path / '001_nul.sql'}:2: contains a NUL byte")


def _broken_after_the_second(directory: Path) -> Path:
    """Two good migrations, then files that cannot be read (not UTF-8, a NUL byte, a
    named pipe), a duplicate version and an orphan down."""
    write(
        directory,
        {
            "0001_a.up.sql": "CREATE TABLE a (id int);",
            "0001_a.down.sql": "DROP TABLE a;",
            "0002_b.up.sql": "ALTER TABLE a ADD COLUMN b int;",
            "0003_c.up.sql": b"SELECT '\xff';",
            "0004_d.sql": b"SELECT 1;\x00",
            "0005_e.sql": "SELECT 5;",
            "0005_e.up.sql": "SELECT 55;",
            "0006_f.down.sql": "SELECT 6;",
            "0008_h.up.sql": "SELECT 8;",
        },
    )
    os.mkfifo(directory / "0007_g.up.sql")
    return directory


def test_through_reads_the_migrations_up_to_the_last_file_named_and_lists_the_rest(
    tmp_path: Path,
) -> None:
    """What `migrate lint FILE` needs: the files of later migrations are not read (none
    of their reading problems), their names are still checked (the orphan down)."""
    directory = _broken_after_the_second(tmp_path)
    whole = discover(directory)

    first_two = discover(directory, through=[directory / "0002_b.up.sql"])
    down_of_first = discover(directory, through=[directory / "0001_a.down.sql"])

    assert [m.version for m in whole.migrations] == [1, 2, 8]
    assert [m.version for m in first_two.migrations] == [1, 2]
    assert first_two.migrations == whole.migrations[:2]
    assert [m.version for m in down_of_first.migrations] == [1]
    unread = {"0003_c.up.sql", "0004_d.sql", "0007_g.up.sql"}
    assert {Path(p.split(":")[0]).name for p in whole.problems} >= unread
    kept = {Path(p.split(":")[0]).name for p in first_two.problems}
    assert not kept & unread
    assert "0006_f.down.sql" in kept  # a name problem: found from the listing
    assert set(first_two.problems) <= set(whole.problems)


def test_through_a_file_that_is_no_migration_reads_every_file(tmp_path: Path) -> None:
    """A problem found reading any file may be the one that names it (a Flyway
    ``.conf``): everything is read, as without ``through``."""
    directory = _broken_after_the_second(tmp_path)
    whole = discover(directory)

    for path in (directory / "0006_f.down.sql", directory / "notes.sql"):
        found = discover(directory, through=[directory / "0001_a.up.sql", path])
        assert found.migrations == whole.migrations
        assert found.problems == whole.problems
