"""Draw the judged sample: findings picked at random (fixed seed) from the corpora.

    python -m tests.lint.judged.draw [--per-rule 7] [--seed 17] > draft.toml

Stratified by rule: up to ``--per-rule`` findings of each rule, so that every rule's
precision rests on several findings (a plain random draw gives the rare rules none).
Prints one ``[[finding]]`` per drawn finding (corpus file, line, rule, the statement's
first line, the message), without label: a person reads each one against the SQL, the
earlier migrations and, where it depends on PostgreSQL's behaviour, the server, and
fills in ``label`` (true / false / debatable) and ``reason``. sample.toml is the result.
"""

from __future__ import annotations

import argparse
import json
import random

from tests.lint.judged.corpora import CORPORA, NAMES, lint_corpus


def statement_line(file: str, line: int) -> str:
    """The first line of the flagged statement, stripped."""
    lines = (CORPORA / file).read_text().splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-rule", type=int, default=7)
    parser.add_argument("--seed", type=int, default=17)
    arguments = parser.parse_args()
    population = sorted(
        (f for name in NAMES for f in lint_corpus(name)),
        key=lambda f: (f.file, f.line, f.rule, f.message),
    )
    chooser = random.Random(arguments.seed)
    drawn = []
    for rule in sorted({f.rule for f in population}):
        of_rule = [f for f in population if f.rule == rule]
        drawn.extend(chooser.sample(of_rule, min(arguments.per_rule, len(of_rule))))
    for finding in sorted(drawn, key=lambda f: (f.file, f.line, f.rule)):
        print("[[finding]]")
        print(f"file = {json.dumps(finding.file)}")
        print(f"line = {finding.line}")
        print(f"rule = {json.dumps(finding.rule)}")
        print(f"statement = {json.dumps(statement_line(finding.file, finding.line)[:100])}")
        print(f"message = {json.dumps(finding.message[:200])}")
        print('label = ""')
        print('reason = ""')
        print()


if __name__ == "__main__":
    main()
