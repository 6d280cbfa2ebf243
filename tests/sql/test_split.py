"""Statement splitting with PostgreSQL's own grammar (pglast), positions included."""

from __future__ import annotations

import pytest

from migrator.sql import split
from migrator.sql.split import split_statements, streamed


def texts(sql: str) -> list[str]:
    return [statement.text for statement in split_statements(sql).statements]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1; select 2;", ["select 1", "select 2"]),
        ("select $$a;b$$; select 2", ["select $$a;b$$", "select 2"]),
        ("select $tag$ ; $$ ; $tag$;", ["select $tag$ ; $$ ; $tag$"]),
        ("select E'it\\'s; fine'; select 2", ["select E'it\\'s; fine'", "select 2"]),
        ('create table "a;b" (x int); select 1', ['create table "a;b" (x int)', "select 1"]),
        ("/* a; /* nested; */ still; */ select 1;", ["select 1"]),
        ("-- c; c\nselect 1; -- trailing;\n", ["select 1"]),
        (
            "create function f() returns int language sql begin atomic select 1; select 2; end;"
            " select 3",
            [
                "create function f() returns int language sql begin atomic select 1; select 2; end",
                "select 3",
            ],
        ),
    ],
    ids=[
        "plain",
        "dollar",
        "tagged-dollar",
        "escape-string",
        "quoted-ident",
        "nested-comment",
        "line-comments",
        "begin-atomic",
    ],
)
def test_splits_exactly_where_postgres_would(sql: str, expected: list[str]) -> None:
    result = split_statements(sql)
    assert texts(sql) == expected
    assert result.syntax_errors == ()


def test_positions_are_one_based_lines_and_columns_of_the_first_token() -> None:
    sql = "-- header\n\n  create table t (id int);\nselect\n  1;"
    first, second = split_statements(sql).statements
    assert (first.line, first.column) == (3, 3)
    assert (second.line, second.column, second.end_line) == (4, 1, 5)
    assert sql[first.start : first.end] == first.text


def test_positions_count_characters_not_bytes() -> None:
    sql = "select 'héllo wörld'; select 2"
    statements = split_statements(sql).statements
    assert statements[1].text == "select 2"
    assert statements[1].column == len("select 'héllo wörld'; ") + 1


def test_a_broken_statement_is_reported_and_the_others_are_kept() -> None:
    sql = (
        "select 1;\nselec 2;\n"
        "create function f() returns int language sql begin atomic select 1; end;"
    )
    result = split_statements(sql)
    assert [s.text.split()[0] for s in result.statements] == ["select", "selec", "create"]
    (error,) = result.syntax_errors
    assert (error.line, error.column, error.statement_index) == (2, 1, 1)
    assert "selec" in error.message


def test_unterminated_string_does_not_raise() -> None:
    result = split_statements("select 1; select 'open")
    assert result.syntax_errors
    assert result.statements


@pytest.mark.parametrize(
    "broken",
    ["SELECT 'oops", "SELECT 1 /* open", 'SELECT "open', "SELECT $$ open", "SELECT E'open"],
)
def test_an_unterminated_token_at_the_end_keeps_the_statements_before_it(broken: str) -> None:
    sql = (
        "CREATE INDEX i ON users (a);\n-- a comment; with a semicolon\n"
        f"DROP TABLE users;\n{broken}\n"
    )
    result = split_statements(sql)
    assert [s.text for s in result.statements] == [
        "CREATE INDEX i ON users (a)",
        "DROP TABLE users",
        broken,
    ]
    assert [s.line for s in result.statements] == [1, 3, 4]
    (error,) = result.syntax_errors
    assert (error.line, error.statement_index) == (4, 2)
    assert "unterminated" in error.message


def test_an_unterminated_token_mid_statement_belongs_to_that_statement() -> None:
    result = split_statements("SELECT 1;\nUPDATE t SET a = 'open;\nDROP TABLE t;\n")
    assert [s.text for s in result.statements] == [
        "SELECT 1",
        "UPDATE t SET a = 'open;\nDROP TABLE t;",
    ]
    assert result.syntax_errors[0].statement_index == 1


def test_a_statement_nested_deeper_than_the_parser_allows_does_not_crash() -> None:
    deep = "SELECT " + " || ".join(["'x'"] * 25000)
    result = split_statements(f"CREATE TABLE t (a text);\n{deep};\nDROP TABLE t;\n")
    assert [s.line for s in result.statements] == [1, 2, 3]


def test_psql_meta_commands_are_found_with_their_line_but_not_inside_strings() -> None:
    sql = "select 1;\n\\set ON_ERROR_STOP 1\nselect '\n\\not a command';\n  \\i other.sql\n"
    result = split_statements(sql)
    assert result.meta_commands == ((2, "\\set ON_ERROR_STOP 1"), (5, "\\i other.sql"))


def test_a_psql_meta_command_runs_to_the_end_of_its_line_past_semicolons() -> None:
    # psql reads the whole line as the meta-command (``\\x;`` is its command ``x;``)
    atomic = "create function f() returns int begin atomic select 1; end"  # joined pieces
    sql = (
        f"select 1;\n\\echo a; select 2; -- two\n\\x;\nselect 3;\n\\o; {atomic}; select 4\n"
        "\\set v 1 ; "
    )
    for result in (split_statements(sql), streamed(sql)):
        assert result.meta_commands == (
            (2, "\\echo a; select 2; -- two"),
            (3, "\\x;"),
            (5, f"\\o; {atomic}; select 4"),
            (6, "\\set v 1 ;"),
        )
        bounds = [(s.start, s.end) for s in result.statements]
        assert result.meta_commands == split.find_meta_commands(sql, bounds)


def test_comment_only_text_has_no_statements() -> None:
    assert split_statements("-- nothing\n/* here */\n").statements == ()


def test_one_parse_gives_each_statement_its_tree() -> None:
    sql = (
        "create table t (id int);\n"
        "create or replace view v as select 'é' as x;\n"
        "insert into t values (1)"
    )
    table, view, insert = split_statements(sql).statements
    assert table.tree is not None and view.tree is not None and insert.tree is not None
    assert (table.tree.kind, view.tree.kind, insert.tree.kind) == (
        "CreateStmt",
        "ViewStmt",
        "InsertStmt",
    )
    assert table.tree.fields()["relation"]["relname"] == "t"
    assert view.tree.fields()["query"]["SelectStmt"]
    without_query = view.tree.fields(view_query=False)
    assert without_query["query"] == {}
    assert without_query["replace"] is True
    assert without_query["view"]["relname"] == "v"


def test_statements_of_a_text_with_syntax_errors_have_no_tree() -> None:
    result = split_statements("select 1;\nselec 2;")
    assert [s.tree for s in result.statements] == [None, None]


def test_a_streamed_text_keeps_the_tree_of_each_statement_that_parses() -> None:
    result = streamed("select 1;\nselec 2;")
    first, broken = result.statements
    assert first.tree is not None and first.tree.kind == "SelectStmt"
    assert first.kind_and_fields() == split_statements("select 1").statements[0].kind_and_fields()
    assert broken.tree is None
    assert [(e.line, e.column) for e in result.syntax_errors] == [(2, 1)]


def test_a_text_over_the_whole_parse_limit_is_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the choice at a limit small enough to test in milliseconds (at the real 4 MiB the
    # text has 350,000 statements and took a minute of CI time, streamed twice): a text
    # of the limit's size is parsed whole, once; one character more is streamed
    whole_parses: list[int] = []
    parse_whole = split.parse_statements

    def counted(text: str) -> object:
        whole_parses.append(len(text))
        return parse_whole(text)

    monkeypatch.setattr(split, "parse_statements", counted)
    monkeypatch.setattr(split, "WHOLE_PARSE_LIMIT", 120)
    at_limit = "SELECT 'x';\n" * 10
    over = at_limit + "SELECT 'x';\n"
    assert len(at_limit) == split.WHOLE_PARSE_LIMIT
    assert len(split_statements(at_limit).statements) == 10
    assert whole_parses == [len(at_limit)]
    assert split_statements(over) == streamed(over)
    assert len(streamed(over).statements) == 11
    assert whole_parses == [len(at_limit)]


def test_a_syntax_error_at_end_of_input_points_at_the_end_of_the_statement() -> None:
    result = split_statements("SELECT 1;\nCREATE TABLE broken (\n  id int\n")
    (error,) = result.syntax_errors
    assert "at end of input" in error.message
    assert (error.line, error.column) == (3, 9)
