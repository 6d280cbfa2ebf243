"""Output formats and the `lint`/`rules` command line at their edges: file names that
need encoding in SARIF, columns counted in characters, terminal control characters in
a file under review, output that cannot be written, odd `rules` arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema

from tests.helpers import run_cli

SARIF_SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def _sarif(tmp_path: Path, *args: str) -> Any:
    result = run_cli("lint", "--format", "sarif", *args, cwd=tmp_path)
    assert result.code == 1, result.output
    document = json.loads(result.stdout)
    jsonschema.validate(document, SARIF_SCHEMA)
    return document


def test_sarif_uris_are_percent_encoded_uri_references(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.migrator]\n")
    names = ["with space/0001_a.up.sql", "0002_100%.up.sql", "0003_ünï.up.sql", "sub/0004_#.sql"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("DROP TABLE t;\n")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-other dir" / "0001_x.up.sql"
    elsewhere.parent.mkdir()
    elsewhere.write_text("DROP TABLE t;\n")

    document = _sarif(tmp_path, *names, str(elsewhere))
    [run] = document["runs"]
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    ]
    for uri in uris:
        assert " " not in uri and all(ord(c) < 128 for c in uri), uri
        assert "#" not in uri and "%%" not in uri, uri
    relative = sorted(unquote(uri) for uri in uris if not uri.startswith("file:"))
    assert relative == sorted(names)
    [absolute] = [uri for uri in uris if uri.startswith("file:")]
    assert Path(unquote(urlsplit(absolute).path)) == elsewhere.resolve()


def test_sarif_says_columns_are_code_points(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("SELECT '😀'; DROP TABLE t;\n")
    document = _sarif(tmp_path, "m.sql")
    [run] = document["runs"]
    assert run["columnKind"] == "unicodeCodePoints"
    [result] = run["results"]
    # S-E-L-E-C-T, space, quote, emoji, quote, semicolon, space: DROP is character 13
    assert result["locations"][0]["physicalLocation"]["region"]["startColumn"] == 13


def test_text_output_escapes_terminal_control_characters(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text('DROP TABLE "evil\x1b]0;owned\x07";\n')
    result = run_cli("lint", "m.sql", cwd=tmp_path)
    assert result.code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil\\x1b]0;owned\\x07" in result.stdout
    # the machine formats keep the name as it is (JSON escapes it)
    as_json = json.loads(run_cli("lint", "m.sql", "--format", "json", cwd=tmp_path).stdout)
    assert "evil\x1b]0;owned\x07" in as_json[0]["message"]


def test_output_that_cannot_be_written_is_not_a_clean_or_findings_exit(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("SELECT 1;\n")
    with open("/dev/full", "w") as full:
        process = subprocess.run(
            [sys.executable, "-m", "migrator", "lint", "m.sql"],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert process.returncode == 2
    assert process.stderr.startswith("error: cannot write the lint report")
    assert "Traceback" not in process.stderr


def test_rules_with_an_empty_id_or_an_id_and_write_docs_is_a_usage_error(tmp_path: Path) -> None:
    empty = run_cli("rules", "")
    assert empty.code == 2 and "no rule ''" in empty.stderr
    both = run_cli("rules", "drop-table", "--write-docs", str(tmp_path / "docs"))
    assert both.code == 2 and "not both" in both.stderr
    assert not (tmp_path / "docs").exists()
