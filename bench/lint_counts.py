"""Findings per rule on each corpus: `migrate lint` beside squawk, on the same files.

    python -m bench.lint_counts > counts.md

Each cell is "migrate / squawk".

Each corpus directory is linted by `migrate lint --format json DIR` (the directory:
every file against the migrations before it) and by `squawk --reporter json DIR/*.sql`
(each file alone). squawk's rules are shown in the row of the migrator rule that covers
them (docs/lint.md, "Coming from squawk"); squawk rules with no counterpart get rows of
their own. A count says how often a rule fired, not whether it was right: the judged
sample (tests/lint/judged/sample.toml) says that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench import peers

CORPORA = Path(os.environ.get("MIGRATOR_CORPORA", "/work/shared/corpora"))
NAMES = (
    "lemmy",
    "sourcegraph_codeintel",
    "temporal_visibility",
    "original/sqlx_svix-webhooks",
    "original/golang-migrate_pocket-id",
)
#: squawk rule -> the migrator rule that covers it
SQUAWK_TO_MIGRATOR = {
    "require-concurrent-index-creation": "index-not-concurrent",
    "require-concurrent-index-deletion": "drop-index-not-concurrent",
    "require-concurrent-reindex": "reindex-not-concurrent",
    "require-concurrent-partition-detach": "detach-partition-not-concurrent",
    "ban-concurrent-index-creation-in-transaction": "concurrently-in-transaction",
    "constraint-missing-not-valid": "constraint-not-valid",
    "adding-foreign-key-constraint": "constraint-not-valid",
    "disallowed-unique-constraint": "unique-without-index",
    "adding-serial-primary-key-field": "unique-without-index",
    "adding-not-nullable-field": "set-not-null",
    "adding-required-field": "add-column-required",
    "adding-field-with-default": "add-column-rewrite",
    "changing-column-type": "column-type-rewrite",
    "require-timeout-settings": "missing-lock-timeout",
    "require-lock-timeout": "missing-lock-timeout",
    "require-statement-timeout": "missing-lock-timeout",
    "prefer-repack": "table-rewrite",
    "ban-drop-column": "drop-column",
    "ban-drop-table": "drop-table",
    "ban-drop-not-null": "drop-not-null",
    "renaming-column": "rename-column",
    "renaming-table": "rename-table",
    "ban-truncate-cascade": "truncate",
    "ban-drop-database": "drop-schema-or-database",
    "ban-drop-schema": "drop-schema-or-database",
    "transaction-nesting": "transaction-control",
    "ban-uncommitted-transaction": "transaction-control",
    "syntax-error": "syntax-error",
    "identifier-too-long": "identifier-too-long",
    "prefer-robust-stmts": "non-idempotent-non-transactional",
    "prefer-bigint-over-int": "prefer-bigint",
    "prefer-bigint-over-smallint": "prefer-bigint",
    "prefer-identity": "prefer-identity",
    "prefer-text-field": "prefer-text",
    "ban-char-field": "prefer-text",
    "prefer-timestamptz": "prefer-timestamptz",
    "prefer-timestamp-tz": "prefer-timestamptz",
    "ban-drop-view": "drop-table",
    "renaming-object": "rename-table",
    "ban-set-schema": "rename-table",
}


def _migrate() -> list[str]:
    script = Path(sys.executable).parent / "migrate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "migrator"]


def _json(argv: list[str]) -> list[dict[str, object]]:
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"{argv[0]} exited {completed.returncode}: {completed.stderr[-300:]}")
    found: list[dict[str, object]] = json.loads(completed.stdout or "[]")
    return found


def counts() -> dict[str, tuple[Counter[str], Counter[str] | None]]:
    """corpus -> (migrator's counts per rule, squawk's counts per covering rule)."""
    squawk = peers.squawk()
    result: dict[str, tuple[Counter[str], Counter[str] | None]] = {}
    for name in NAMES:
        directory = CORPORA / name
        ours = Counter(
            str(f["rule"])
            for f in _json([*_migrate(), "lint", "--no-cache", "--format", "json", str(directory)])
        )
        theirs = None
        if squawk is not None:
            files = sorted(str(path) for path in directory.glob("*.sql"))
            theirs = Counter(
                SQUAWK_TO_MIGRATOR.get(str(f["rule_name"]), f"({f['rule_name']})")
                for f in _json([*squawk.command, "--reporter", "json", *files])
            )
        result[name] = (ours, theirs)
    return result


def main() -> None:
    squawk = peers.squawk()
    print(f"squawk: {squawk.version if squawk else 'not installed (' + peers.INSTALL_HINT + ')'}")
    found = counts()
    print()
    print("| rule | " + " | ".join(name.removeprefix("original/") for name in found) + " |")
    print("|---|" + "---:|" * len(found))
    rules = sorted(
        {rule for ours, theirs in found.values() for rule in (*ours, *(theirs or ()))},
        key=lambda rule: (rule.startswith("("), rule),
    )
    for rule in [*rules, "all"]:
        cells = []
        for ours, theirs in found.values():
            mine = sum(ours.values()) if rule == "all" else ours[rule]
            other = "-"
            if theirs is not None:
                other = str(sum(theirs.values()) if rule == "all" else theirs[rule])
            cells.append(f"{mine} / {other}")
        name = "**all**" if rule == "all" else f"`{rule}`"
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
