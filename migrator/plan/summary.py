"""What ``migrate plan`` prints: the files, and the deploy sequence between them."""

from __future__ import annotations

from migrator.plan.planner import PlanResult
from migrator.source.model import PHASES


def _versions(result: PlanResult, phase: str) -> list[str]:
    return [v.version_text for v in result.versions if v.rendered.migration.phase == phase]


def describe(result: PlanResult, *, written: bool, show_text: bool = False) -> str:
    """The plan as text: each change and its recipe, each migration's files, then the
    numbered deploy sequence (which ``migrate up --phase`` to run, what to deploy)."""
    lines: list[str] = []
    plan = result.plan
    if result.left_as_is:
        return (
            f"{result.source}: every statement is safe as written; the migration is left "
            "as it is (nothing written)."
        )
    if plan.all_safe_already:
        lines.append(
            f"{result.source}: every statement is safe as written; it passes through unchanged."
        )
    elif plan.as_written:
        lines.append(
            f"{result.source}: every statement is safe as written and passes through "
            f"unchanged, in {len(plan.migrations)} migrations: each statement that takes "
            "ACCESS EXCLUSIVE on an existing table ends its transaction, so the lock is held "
            "only while that statement runs."
        )
    else:
        lines.append(f"Plan for {result.source}:")
        for change in plan.changes:
            first = " ".join(change.source.split())
            lines.append(f"  {change.recipe}: {first[:100]}")
    notes = dict.fromkeys(warning for change in plan.changes for warning in change.warnings)
    lines += [f"  note: {note}" for note in notes]
    lines.append("")
    if not result.versions and not result.removed:
        lines.append("Nothing to write: no statement of the file changes anything.")
        return "\n".join(lines)
    lines.append("Wrote:" if written else "Would write (nothing written, --print):")
    for version in result.versions:
        migration = version.rendered.migration
        names = ", ".join(str(f.path) for f in version.files)
        suffix = (
            f"  [irreversible: {version.irreversible_reason}]"
            if version.irreversible_reason
            else ""
        )
        lines.append(f"  {migration.phase:<9} {names}{suffix}")
    for path in result.removed:
        lines.append(f"  removed   {path}" if written else f"  would remove {path}")
    lines.append("")
    lines.append("Deploy sequence:")
    step = 1
    for phase in PHASES:
        versions = _versions(result, phase)
        if not versions:
            continue
        deploy = next(
            v.rendered.migration.deploy_before
            for v in result.versions
            if v.rendered.migration.phase == phase
        )
        if deploy:
            lines.append(f"  {step}. deploy {deploy}")
            step += 1
        lines.append(f"  {step}. migrate up --phase {phase}   ({', '.join(versions)})")
        step += 1
    if show_text:
        for planned in result.files:
            lines.append("")
            lines.append(f"==> {planned.path} <==")
            lines.append(planned.text.rstrip("\n"))
    return "\n".join(lines)
