"""The judged sample (sample.toml) and the precision it gives per rule."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).with_name("sample.toml")
LABELS = ("true", "false", "debatable")


def load() -> dict[str, Any]:
    with SAMPLE.open("rb") as handle:
        return tomllib.load(handle)


def precision_table(findings: list[dict[str, Any]]) -> list[tuple[str, int, int, int, float]]:
    """``(rule, true, false, debatable, precision)`` per rule, and ``all`` last;
    precision is true / (true + false): a debatable finding counts on neither side."""
    counts: dict[str, Counter[str]] = {}
    for finding in findings:
        counts.setdefault(finding["rule"], Counter())[finding["label"]] += 1
    total: Counter[str] = Counter()
    rows = []
    for rule in sorted(counts):
        total.update(counts[rule])
        rows.append(_row(rule, counts[rule]))
    rows.append(_row("all", total))
    return rows


def _row(rule: str, count: Counter[str]) -> tuple[str, int, int, int, float]:
    judged = count["true"] + count["false"]
    precision = count["true"] / judged if judged else 1.0
    return rule, count["true"], count["false"], count["debatable"], precision


def drawn(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings of the random draw (stratum ``drawn``), as the linter gave them."""
    return [finding for finding in findings if finding["stratum"] == "drawn"]


def now(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sampled findings the linter reports now: the drawn ones that were not fixed
    (the false ones were: test_sample.py keeps them unreported) and the new ones."""
    return [
        finding
        for finding in findings
        if finding["stratum"] == "new"
        or (finding["stratum"] == "drawn" and finding["label"] != "false")
    ]


def main() -> None:
    """Print the precision table as Markdown (for docs/lint.md): as drawn, and now."""
    findings = load()["finding"]
    current = {row[0]: row for row in precision_table(now(findings))}
    print("| rule | drawn | true | false | debatable | precision as drawn | now (with new) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for rule, true, false, debatable, precision in precision_table(drawn(findings)):
        name = "**all**" if rule == "all" else f"`{rule}`"
        judged_now = current[rule][1] + current[rule][2]
        as_drawn = f"{precision:.0%}" if true + false else "n/a"
        at_present = f"{current[rule][4]:.0%} ({judged_now})" if judged_now else "n/a"
        print(
            f"| {name} | {true + false + debatable} | {true} | {false} | {debatable} | "
            f"{as_drawn} | {at_present} |"
        )
    print()
    print("| stratum | rule | true | false | debatable |")
    print("|---|---|---:|---:|---:|")
    for stratum in ("new", "removed"):
        chosen = [f for f in findings if f["stratum"] == stratum]
        for rule, true, false, debatable, _ in precision_table(chosen)[:-1]:
            print(f"| {stratum} | `{rule}` | {true} | {false} | {debatable} |")


if __name__ == "__main__":
    main()
