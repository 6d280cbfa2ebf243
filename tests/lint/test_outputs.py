"""Output formats, exit codes and the command line of `migrate lint` / `migrate rules`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import run_cli

SARIF_SCHEMA = Path(__file__).parent / "sarif-schema-2.1.0.json"

UNSAFE = """\
CREATE INDEX users_email_idx ON users (email);
CREATE TABLE t (payload json);
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.migrator]\n")
    migrations = tmp_path / "database" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_users.up.sql").write_text(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"
    )
    (migrations / "0001_users.down.sql").write_text("DROP TABLE users;\n")
    (migrations / "0002_index.up.sql").write_text(UNSAFE)
    (migrations / "0002_index.down.sql").write_text("DROP TABLE t;\nDROP INDEX users_email_idx;\n")
    return tmp_path


def test_json_is_one_array_with_the_documented_fields(project: Path) -> None:
    result = run_cli("lint", "--format", "json", cwd=project)
    findings = json.loads(result.stdout)
    assert result.code == 1
    rules = {f["rule"] for f in findings}
    assert {"index-not-concurrent", "prefer-jsonb"} <= rules
    first = next(f for f in findings if f["rule"] == "index-not-concurrent")
    assert first["file"].endswith("0002_index.up.sql")
    assert (first["line"], first["column"], first["end_line"], first["end_column"]) == (1, 1, 1, 46)
    assert first["severity"] == "error" and first["message"] and first["help"]
    assert first["help"].endswith("migrate plan database/migrations/0002_index.up.sql")
    assert {f["severity"] for f in findings} <= {"error", "warning"}


def test_down_file_is_linted_against_the_schema_its_up_built(project: Path) -> None:
    findings = json.loads(run_cli("lint", "--format", "json", cwd=project).stdout)
    down = [f for f in findings if f["file"].endswith("0002_index.down.sql")]
    # the index was created by the up it reverts: new; t too
    assert [f["rule"] for f in down] == []
    first_down = [f for f in findings if f["file"].endswith("0001_users.down.sql")]
    assert first_down == []


def test_text_output_has_position_rule_help_and_excerpt(project: Path) -> None:
    result = run_cli("lint", cwd=project, env={"NO_COLOR": None})
    assert (
        "database/migrations/0002_index.up.sql:1:1: error [index-not-concurrent]" in result.stdout
    )
    assert "  | CREATE INDEX users_email_idx ON users (email)" in result.stdout
    assert "  = help: use CREATE INDEX CONCURRENTLY" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour
    assert "target PostgreSQL 15 (default)" in result.stdout


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    from migrator.lint.engine import LintReport
    from migrator.lint.findings import Finding, Severity
    from migrator.lint.render import render_text

    finding = Finding("drop-table", Severity.ERROR, "m", "h", "f.sql", 1, 1, 1, 2)
    report = LintReport(findings=[finding], files=1)
    assert "\x1b[31m" in render_text(report, colour=True)
    assert "\x1b[" not in render_text(report, colour=False)


def test_github_annotations(project: Path) -> None:
    result = run_cli("lint", "--format", "github", cwd=project)
    lines = result.stdout.splitlines()
    expected = (
        "::error file=database/migrations/0002_index.up.sql,line=1,col=1,endLine=1,"
        "title=index-not-concurrent::"
    )
    assert any(line.startswith(expected) for line in lines)
    assert any(line.startswith("::warning ") and "prefer-jsonb" in line for line in lines)


def test_sarif_is_valid_against_the_2_1_0_schema(project: Path) -> None:
    result = run_cli("lint", "--format", "sarif", cwd=project)
    document = json.loads(result.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validate(document, schema)
    run = document["runs"][0]
    assert {r["ruleId"] for r in run["results"]} >= {"index-not-concurrent", "prefer-jsonb"}
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result_item in run["results"]:
        assert rule_ids[result_item["ruleIndex"]] == result_item["ruleId"]


#: the fields GitLab's Code Quality widget reads (docs.gitlab.com, "Code Quality report
#: format"), as a JSON schema
GITLAB_CODE_QUALITY = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "pattern": "^[^/]"},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
    },
}


def test_gitlab_code_quality_report(project: Path) -> None:
    """Valid for GitLab's widget; fingerprints unique, and unchanged when the lines
    above a finding move (the widget compares them with the target branch's)."""
    absolute = str(project / "database" / "migrations")
    result = run_cli("lint", "--format", "gitlab", absolute, cwd=project)
    assert result.code == 1
    issues = json.loads(result.stdout)
    jsonschema.validate(issues, GITLAB_CODE_QUALITY)
    first = next(i for i in issues if i["check_name"] == "index-not-concurrent")
    assert first["severity"] == "major"
    assert first["location"] == {
        "path": "database/migrations/0002_index.up.sql",
        "lines": {"begin": 1, "end": 1},
    }
    assert any(i["severity"] == "minor" and i["check_name"] == "prefer-jsonb" for i in issues)
    fingerprints = [i["fingerprint"] for i in issues]
    assert len(set(fingerprints)) == len(fingerprints)

    up = project / "database" / "migrations" / "0002_index.up.sql"
    up.write_text("-- moved down by a comment\n\n" + UNSAFE)
    moved = json.loads(run_cli("lint", "--format", "gitlab", cwd=project).stdout)
    assert [i["fingerprint"] for i in moved] == fingerprints
    assert (
        next(i for i in moved if i["check_name"] == "index-not-concurrent")["location"]["lines"][
            "begin"
        ]
        == 3
    )


def test_sarif_with_no_findings_is_valid(tmp_path: Path) -> None:
    sql = tmp_path / "ok.sql"
    sql.write_text("CREATE TABLE t (id bigint PRIMARY KEY);\n")
    result = run_cli("lint", str(sql), "--format", "sarif", cwd=tmp_path)
    assert result.code == 0
    jsonschema.validate(json.loads(result.stdout), json.loads(SARIF_SCHEMA.read_text()))


def test_exit_codes(tmp_path: Path) -> None:
    clean = tmp_path / "clean.sql"
    clean.write_text("CREATE TABLE t (id bigint PRIMARY KEY);\n")
    warning_only = tmp_path / "warn.sql"
    warning_only.write_text("CREATE TABLE t (payload json);\n")
    bad = tmp_path / "bad.sql"
    bad.write_text("DROP TABLE users;\n")
    assert run_cli("lint", str(clean), cwd=tmp_path).code == 0
    assert run_cli("lint", str(warning_only), cwd=tmp_path).code == 0
    assert run_cli("lint", str(bad), cwd=tmp_path).code == 1
    assert run_cli("lint", str(tmp_path / "missing.sql"), cwd=tmp_path).code == 2
    assert run_cli("lint", str(bad), "--exclude", "no-such-rule", cwd=tmp_path).code == 2
    assert run_cli("lint", str(bad), "--pg-version", "3", cwd=tmp_path).code == 2
    assert run_cli("lint", str(bad), "--format", "xml", cwd=tmp_path).code == 2


def test_severity_override_and_exclude_flags(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text("DROP TABLE users;\n")
    assert run_cli("lint", str(bad), "--severity", "drop-table=warning", cwd=tmp_path).code == 0
    assert run_cli("lint", str(bad), "--exclude", "drop-table", cwd=tmp_path).code == 0
    only = run_cli("lint", str(bad), "--include", "prefer-jsonb", "--format", "json", cwd=tmp_path)
    assert json.loads(only.stdout) == []


def test_pyproject_lint_table_and_flags_override_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.migrator.lint]\n"
        'exclude = ["prefer-jsonb"]\n'
        "pg_version = 11\n"
        '[tool.migrator.lint.severity]\n"drop-table" = "warning"\n'
    )
    sql = tmp_path / "m.sql"
    sql.write_text(
        "DROP TABLE users;\nCREATE TABLE t (payload json);\nALTER TABLE u ALTER c SET NOT NULL;\n"
    )
    result = run_cli("lint", str(sql), "--format", "json", cwd=tmp_path)
    findings = {f["rule"]: f for f in json.loads(result.stdout)}
    assert "prefer-jsonb" not in findings
    assert findings["drop-table"]["severity"] == "warning"
    assert "PostgreSQL 11 always scans" in findings["set-not-null"]["help"]
    text = run_cli("lint", str(sql), "--pg-version", "16", cwd=tmp_path).stdout
    assert "target PostgreSQL 16 (--pg-version)" in text


def test_bad_lint_configuration_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.migrator.lint]\nexclud = ["x"]\n')
    sql = tmp_path / "m.sql"
    sql.write_text("SELECT 1;\n")
    result = run_cli("lint", str(sql), cwd=tmp_path)
    assert result.code == 2
    assert "unknown key(s) exclud" in result.stderr
    assert "Traceback" not in result.output


def test_directory_problems_are_findings(tmp_path: Path) -> None:
    migrations = tmp_path / "m"
    migrations.mkdir()
    (migrations / "0001_a.up.sql").write_text("CREATE TABLE a (id bigint PRIMARY KEY);\n")
    (migrations / "0002-bad-name.sql").write_text("SELECT 1;\n")
    result = run_cli("lint", str(migrations), "--format", "json", cwd=tmp_path)
    findings = json.loads(result.stdout)
    assert result.code == 1
    assert [f["rule"] for f in findings] == ["invalid-migration-file"]
    assert findings[0]["file"].endswith("0002-bad-name.sql")


def test_rules_lists_every_rule_and_explains_one() -> None:
    from migrator.lint.registry import RULES

    listing = run_cli("rules")
    assert listing.code == 0
    assert len(listing.stdout.splitlines()) == len(RULES)
    assert "index-not-concurrent" in listing.stdout and "error" in listing.stdout
    one = run_cli("rules", "set-not-null")
    assert one.code == 0
    for section in (
        "What it does:",
        "Why it hurts:",
        "Example:",
        "Use instead:",
        "PostgreSQL versions:",
    ):
        assert section in one.stdout
    assert run_cli("rules", "no-such-rule").code == 2


@pytest.mark.parametrize("plannable", [True, False])
@pytest.mark.parametrize("facts", [(), ("about 1,000 rows in public.t",), ("a", 'b "q"')])
def test_json_is_written_exactly_as_json_dumps_with_indent_2(
    facts: tuple[str, ...], plannable: bool
) -> None:
    from migrator.lint.engine import LintReport
    from migrator.lint.findings import Finding, Severity
    from migrator.lint.render import render_json

    finding = Finding(
        rule="drop-table",
        severity=Severity.ERROR,
        message='drops "users" — ünïcode\ttab\\',
        help="",
        file="db/0001_ä.up.sql",
        line=3,
        column=1,
        end_line=4,
        end_column=12,
        excerpt="DROP TABLE users",
        plannable=plannable,
        facts=facts,
    )
    other = replace(finding, severity=Severity.WARNING, help="split it\n", line=12_345)
    for findings in ([], [finding], [finding, other]):
        report = LintReport(findings=list(findings))
        expected = json.dumps([f.as_dict() for f in findings], indent=2) + "\n"
        assert render_json(report) == expected


def test_exclude_flag_adds_to_the_files_exclude_list(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.migrator.lint]\nexclude = ["prefer-text"]\n'
        '[tool.migrator.lint.severity]\n"drop-table" = "warning"\n'
    )
    sql = tmp_path / "m.sql"
    sql.write_text("CREATE TABLE t (id integer PRIMARY KEY, name varchar(20));\nDROP TABLE u;\n")
    result = run_cli(
        "lint", str(sql), "--exclude", "prefer-bigint", "--format", "json", cwd=tmp_path
    )
    rules = {f["rule"]: f["severity"] for f in json.loads(result.stdout)}
    assert "prefer-text" not in rules  # excluded by the file, still excluded
    assert "prefer-bigint" not in rules  # excluded by the flag
    assert rules["drop-table"] == "warning"  # the file's severity table still applies


def test_bad_severity_level_names_where_it_was_given(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.migrator.lint.severity]\n"drop-column" = "fatal"\n'
    )
    sql = tmp_path / "m.sql"
    sql.write_text("SELECT 1;\n")
    result = run_cli("lint", str(sql), cwd=tmp_path)
    assert result.code == 2
    assert "pyproject.toml" in result.stderr and "'fatal'" in result.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.migrator.lint]\n")
    flag = run_cli("lint", str(sql), "--severity", "drop-table=loud", cwd=tmp_path)
    assert flag.code == 2
    assert "--severity" in flag.stderr and "pyproject.toml" not in flag.stderr


def test_lint_help_names_the_default_pg_version() -> None:
    from migrator.lint.options import DEFAULT_PG_VERSION

    result = run_cli("lint", "--help")
    assert f"[default: {DEFAULT_PG_VERSION}, or pg_version" in " ".join(result.stdout.split())


def test_a_duplicate_version_is_reported_at_each_files_own_path(project: Path) -> None:
    """Two branches that each added 0002_*: every output names the real files."""
    migrations = project / "database" / "migrations"
    (migrations / "0002_other.up.sql").write_text("CREATE TABLE other (id bigint);\n")
    expected = {"database/migrations/0002_index.up.sql", "database/migrations/0002_other.up.sql"}

    text = run_cli("lint", cwd=project, env={"NO_COLOR": "1"}).stdout
    for path in expected:
        assert f"{path}:1:1: error [invalid-migration-file] version 2 is used by more" in text

    github = run_cli("lint", "--format", "github", cwd=project).stdout.splitlines()
    annotated = {
        line.split("file=")[1].split(",")[0]
        for line in github
        if "version 2 is used by more than one migration" in line
    }
    assert annotated == expected

    sarif = json.loads(run_cli("lint", "--format", "sarif", cwd=project).stdout)
    uris = {
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in sarif["runs"][0]["results"]
        if "version 2 is used" in result["message"]["text"]
    }
    assert uris == expected

    gitlab = json.loads(run_cli("lint", "--format", "gitlab", cwd=project).stdout)
    paths = {
        issue["location"]["path"] for issue in gitlab if "version 2 is used" in issue["description"]
    }
    assert paths == expected


def test_sarif_reports_silenced_findings_as_suppressed_with_their_reason(project: Path) -> None:
    up = project / "database" / "migrations" / "0002_index.up.sql"
    up.write_text(
        "-- migrate:lint-ignore index-not-concurrent -- users has 10 rows\n"
        "CREATE INDEX users_email_idx ON users (email);\n"
        "-- migrate:lint-ignore prefer-jsonb\n"
        "CREATE TABLE t (payload json);\n"
    )
    schema = json.loads(SARIF_SCHEMA.read_text())
    for attempt in ("fresh", "from the cache"):
        result = run_cli("lint", "--format", "sarif", cwd=project)
        assert result.code == 0, (attempt, result.output)  # silenced: no error left
        document = json.loads(result.stdout)
        jsonschema.validate(document, schema)
        by_rule = {r["ruleId"]: r for r in document["runs"][0]["results"]}
        assert by_rule["index-not-concurrent"]["suppressions"] == [
            {"kind": "inSource", "status": "accepted", "justification": "users has 10 rows"}
        ], attempt
        assert by_rule["prefer-jsonb"]["suppressions"] == [
            {"kind": "inSource", "status": "accepted"}
        ]
    text = run_cli("lint", cwd=project, env={"NO_COLOR": "1"}).stdout
    assert "index-not-concurrent" not in text and "prefer-jsonb" not in text
    assert json.loads(run_cli("lint", "--format", "json", cwd=project).stdout) == []


def test_sarif_partial_fingerprints_are_unique_and_survive_moved_lines(project: Path) -> None:
    def fingerprints() -> dict[tuple[str, int], str]:
        document = json.loads(run_cli("lint", "--format", "sarif", cwd=project).stdout)
        return {
            (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]): r[
                "partialFingerprints"
            ]["migratorFinding/v1"]
            for r in document["runs"][0]["results"]
        }

    before = fingerprints()
    assert len(set(before.values())) == len(before) >= 2
    up = project / "database" / "migrations" / "0002_index.up.sql"
    up.write_text("-- two lines\n-- above\n" + UNSAFE)
    after = fingerprints()
    assert {(rule, line + 2): value for (rule, line), value in before.items()} == after
