"""Rule documentation, rendered from the rule docstrings (``migrate rules``,
``docs/rules/<id>.md``)."""

from __future__ import annotations

from pathlib import Path

from migrator.lint.registry import RULES
from migrator.lint.rule import SECTIONS, Rule, sections


def rule_markdown(rule: Rule) -> str:
    """The Markdown page of one rule."""
    parts = [
        f"# `{rule.id}`",
        "",
        f"{rule.summary}",
        "",
        f"- Default severity: **{rule.severity.value}**",
        f"- Family: {rule.family}",
        f"- `migrate plan` can rewrite it: {'yes' if rule.plannable else 'no'}",
        f"- Suppress: `-- migrate:lint-ignore {rule.id} -- <reason>`",
        "",
    ]
    found = sections(rule.doc)
    for title in SECTIONS:
        parts.append(f"## {title}")
        parts.append("")
        parts.append(_markdown_body(found.get(title, "")))
        parts.append("")
    parts.append("<!-- generated from the rule's docstring by `migrate rules --write-docs` -->")
    return "\n".join(parts).rstrip() + "\n"


def _markdown_body(text: str) -> str:
    """Indented blocks become fenced SQL blocks."""
    out: list[str] = []
    in_code = False
    for line in text.splitlines():
        indented = line.startswith("    ")
        if indented and not in_code:
            out.append("```sql")
            in_code = True
        elif in_code and line.strip() and not indented:
            out.append("```")
            in_code = False
        out.append(line[4:] if in_code else line)
    if in_code:
        while out and not out[-1].strip():
            out.pop()
        out.append("```")
    fixed: list[str] = []
    for line in out:
        if line == "```" and fixed and not fixed[-1].strip():
            # a blank line inside the block before its end belongs outside
            fixed.pop()
            fixed.append(line)
            fixed.append("")
            continue
        fixed.append(line)
    return "\n".join(fixed).strip("\n")


def rule_text(rule: Rule) -> str:
    """``migrate rules ID``: the rule's documentation as plain text."""
    header = f"{rule.id} ({rule.severity.value}, {rule.family})"
    if rule.plannable:
        header += " - `migrate plan` can rewrite it"
    return f"{header}\n\n{rule.doc}\n"


def rules_index() -> str:
    """``docs/rules/README.md``: every rule in one table."""
    lines = [
        "# Lint rules",
        "",
        "Generated from the rule docstrings (`migrate rules --write-docs docs/rules`).",
        "",
        "| rule | severity | family | what it flags |",
        "|---|---|---|---|",
    ]
    for rule in RULES:
        summary = rule.summary.replace("|", "\\|")
        lines.append(
            f"| [`{rule.id}`]({rule.id}.md) | {rule.severity.value} | {rule.family} | {summary} |"
        )
    return "\n".join(lines) + "\n"


def expected_docs() -> dict[str, str]:
    """File name -> content of every generated page."""
    pages = {f"{rule.id}.md": rule_markdown(rule) for rule in RULES}
    pages["README.md"] = rules_index()
    return pages


def write_rule_docs(directory: Path) -> list[Path]:
    """Write every rule page (and the index) into ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in expected_docs().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
