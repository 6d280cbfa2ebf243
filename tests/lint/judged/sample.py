"""The judged samples (sample.toml, sample_after_fixes.toml) and the precision they
give per rule.

    python -m tests.lint.judged.sample [sample_after_fixes.toml]

prints the precision table of a sample as Markdown (for docs/lint.md).
"""

from __future__ import annotations

import argparse
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SAMPLE = HERE / "sample.toml"
#: drawn at random after the fixes, from what the linter reported then
AFTER_FIXES = HERE / "sample_after_fixes.toml"
SAMPLES = (SAMPLE, AFTER_FIXES)
LABELS = ("true", "false", "debatable")


def load(path: Path = SAMPLE) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def facts() -> dict[str, dict[str, Any]]:
    """The PostgreSQL facts of every sample (a sample may use another's)."""
    found: dict[str, dict[str, Any]] = {}
    for path in SAMPLES:
        for name, fact in load(path).get("fact", {}).items():
            assert name not in found, f"fact {name} defined twice"
            found[name] = fact
    return found


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


def weighted_precision(findings: list[dict[str, Any]], population: Counter[str]) -> float:
    """The precision of everything the linter reports, estimated from a sample drawn
    per rule: each rule's precision weighted by how many findings the rule has in
    ``population`` (a per-rule draw over-represents the rare rules)."""
    rows = {rule: (true, false) for rule, true, false, _, _ in precision_table(findings)[:-1]}
    weight = sum(population[rule] for rule, (true, false) in rows.items() if true + false)
    share = sum(
        population[rule] * true / (true + false)
        for rule, (true, false) in rows.items()
        if true + false
    )
    return share / weight if weight else 1.0


#: the strata drawn at random from everything the linter reported
RANDOM = ("drawn", "layouts")


def drawn(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings of the random draws, as the linter gave them then."""
    return [finding for finding in findings if finding["stratum"] in RANDOM]


def now(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sampled findings the linter reports now: those of the random draws and the
    new ones, but for the false ones (fixed: test_sample.py keeps them unreported); a
    false one whose message was corrected (``now``) counts as true, as its fact says."""
    current = []
    for finding in findings:
        if finding["stratum"] not in (*RANDOM, "new"):
            continue
        if finding["label"] != "false":
            current.append(finding)
        elif "now" in finding:
            current.append({**finding, "label": "true"})
    return current


def main() -> None:
    """Print the precision table as Markdown (for docs/lint.md): as drawn, and now."""
    parser = argparse.ArgumentParser()
    parser.add_argument("sample", nargs="?", default=SAMPLE.name)
    arguments = parser.parse_args()
    findings = load(HERE / arguments.sample)["finding"]
    current = {row[0]: row for row in precision_table(now(findings))}
    print("| rule | drawn | true | false | debatable | precision as drawn | now |")
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
    strata = sorted({f["stratum"] for f in findings} - set(RANDOM))
    if strata:
        print()
        print("| stratum | rule | true | false | debatable |")
        print("|---|---|---:|---:|---:|")
    for stratum in strata:
        chosen = [f for f in findings if f["stratum"] == stratum]
        for rule, true, false, debatable, _ in precision_table(chosen)[:-1]:
            print(f"| {stratum} | `{rule}` | {true} | {false} | {debatable} |")
    if arguments.sample == AFTER_FIXES.name:
        from tests.lint.judged.corpora import NAMES, lint_corpus

        population = Counter(f.rule for name in NAMES for f in lint_corpus(name))
        print()
        print(
            "Weighted by each rule's share of all findings on the corpora: "
            f"{weighted_precision(drawn(findings), population):.1%} as drawn, "
            f"{weighted_precision(now(findings), population):.1%} now."
        )


if __name__ == "__main__":
    main()
