"""Rule documentation: every rule has the five sections, docs/rules/ is in sync with
the docstrings, each Example triggers its rule and each Use-instead does not."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import migrator.lint.rules
from migrator.lint.docs import expected_docs
from migrator.lint.registry import RULE_IDS, RULES
from migrator.lint.rule import SECTIONS, Rule, code_blocks
from tests.lint.lintcases import lint_migrations

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"
#: rules whose example is about the migrations directory, not SQL
NOT_SQL = {"invalid-migration-file"}


def _ids(rules: tuple[Rule, ...]) -> list[str]:
    return [rule.id for rule in rules]


def test_ids_are_unique_kebab_case_and_every_rule_module_rule_is_registered() -> None:
    assert len(RULE_IDS) == len(RULES)
    assert all(re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", rule.id) for rule in RULES)
    package = migrator.lint.rules
    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]
    defined = {
        value.id for module in modules for value in vars(module).values() if isinstance(value, Rule)
    }
    assert defined == RULE_IDS


def test_rule_ids_match_the_catalog_in_lint_rules_md() -> None:
    catalog = Path("/work/shared/reference/lint-rules.md")
    if not catalog.exists():
        pytest.skip("the shared reference is not beside this checkout")
    documented = set(re.findall(r"^\| `([a-z-]+)`", catalog.read_text(), re.MULTILINE))
    assert documented <= RULE_IDS
    extra = RULE_IDS - documented
    engine = {"invalid-directive", "invalid-suppression", "invalid-migration-file"}
    beyond_the_catalog = {
        "detach-partition-not-concurrent",  # squawk has it; so do we
        "commit-point",  # describes the commit points of adopted histories (issue 16)
    }
    assert extra == engine | beyond_the_catalog


@pytest.mark.parametrize("rule", RULES, ids=_ids(RULES))
def test_rule_has_every_section(rule: Rule) -> None:
    for title in SECTIONS:
        assert rule.section(title).strip(), f"{rule.id}: missing section {title!r}"
    assert rule.summary


def _migrations(rule: Rule, section: str) -> list[str]:
    blocks = code_blocks(rule.section(section))
    assert blocks, f"{rule.id}: no SQL block in {section}"
    text = blocks[0] if len(blocks) == 1 else "\n".join(blocks)
    return [part.strip() + "\n" for part in text.split("-- next migration") if part.strip()]


SQL_RULES = tuple(r for r in RULES if r.id not in NOT_SQL)


@pytest.mark.parametrize("rule", SQL_RULES, ids=_ids(SQL_RULES))
def test_example_triggers_the_rule_and_use_instead_does_not(rule: Rule) -> None:
    example = lint_migrations(_migrations(rule, "Example"))
    assert any(f.rule == rule.id for findings in example for f in findings), example
    instead = lint_migrations(_migrations(rule, "Use instead"))
    assert not [f for findings in instead for f in findings if f.rule == rule.id], instead


def test_generated_docs_are_in_sync_with_the_docstrings() -> None:
    expected = expected_docs()
    on_disk = {path.name: path.read_text() for path in DOCS.glob("*.md")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    orphans = sorted(set(on_disk) - set(expected))
    assert not stale and not orphans, (
        f"docs/rules is out of date ({stale or orphans}): "
        "run `migrate rules --write-docs docs/rules`"
    )
