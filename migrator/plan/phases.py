"""Which migrations a phase covers, and whether a contract migration may run: pure
rules the runner applies for ``migrate up --phase`` and before each contract step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from migrator.source.model import PHASES, Migration, Phase


def phase_rank(migration: Migration) -> int:
    """0 expand (and migrations without a phase), 1 backfill, 2 contract."""
    return PHASES.index(migration.phase) if migration.phase else 0


def is_backfill(migration: Migration) -> bool:
    return migration.up.directives.backfill is not None or migration.phase == "backfill"


def select_for_phase(pending: Sequence[Migration], phase: Phase) -> list[Migration]:
    """The pending migrations ``migrate up --phase PHASE`` applies: in order, up to
    (not including) the first one of a later phase. A migration without a phase
    directive counts as expand."""
    limit = PHASES.index(phase)
    selected = []
    for migration in pending:
        if phase_rank(migration) > limit:
            break
        selected.append(migration)
    return selected


def unfinished_backfills(
    migration: Migration, migrations: Sequence[Migration], applied: Mapping[int, bool]
) -> list[Migration]:
    """Backfill migrations before a contract ``migration`` that are not completely
    applied (``applied[version]`` is true only for a finished run): the contract
    must not run while any is left, since it validates or drops what they fill."""
    if migration.phase != "contract":
        return []
    return [
        earlier
        for earlier in migrations
        if earlier.version < migration.version
        and is_backfill(earlier)
        and not applied.get(earlier.version, False)
    ]


def contract_refusal(migration: Migration, unfinished: Sequence[Migration]) -> str:
    """The one-line reason a contract migration does not run."""
    names = ", ".join(m.label for m in unfinished)
    return (
        f"{migration.label} is a contract migration, but the backfill {names} has not "
        "finished; run `migrate up --phase backfill` (or `migrate up --resume`) first"
    )
