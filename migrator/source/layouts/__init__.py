"""The layouts migrator reads: its own and those of the tools teams come from.

A directory's layout is detected from what it holds (:func:`detect`), or named with
``--layout`` / ``layout =`` in ``[tool.migrator]``. Each layout's rules follow that
tool's own documentation and code; docs/runner.md ("Coming from another tool") says
where migrator differs.
"""

from __future__ import annotations

from migrator.errors import SourceError, UsageError
from migrator.source.layouts.base import Layout, Listing
from migrator.source.layouts.dbmate import DbmateLayout
from migrator.source.layouts.diesel import DieselLayout
from migrator.source.layouts.flyway import FlywayLayout
from migrator.source.layouts.goose import GooseLayout
from migrator.source.layouts.paired import GolangMigrateLayout, PairedLayout, SqlxLayout

#: every layout by its name, in detection order (the most specific first)
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        DieselLayout(),
        FlywayLayout(),
        GooseLayout(),
        DbmateLayout(),
        PairedLayout(),
        GolangMigrateLayout(),
        SqlxLayout(),
    )
}
#: what ``--layout`` accepts
LAYOUT_NAMES: tuple[str, ...] = ("auto", *LAYOUTS)
DEFAULT = "migrator"


def named(name: str) -> Layout:
    """The layout called ``name``; :class:`UsageError` naming the choices otherwise."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise UsageError(
            f"unknown layout {name!r}", hint="choose one of " + ", ".join(LAYOUT_NAMES)
        ) from None


def detect(listing: Listing) -> Layout:
    """The layout ``listing`` is written in (migrator's own when nothing else fits, so
    an empty directory gets it). Two layouts at once is an error: pass ``--layout``."""
    claimed = [layout for layout in LAYOUTS.values() if layout.claims(listing)]
    foreign = [layout for layout in claimed if layout.name != DEFAULT]
    if len(foreign) > 1:
        raise SourceError(
            [
                f"{listing.directory} holds migrations of several layouts: "
                + " and ".join(layout.name for layout in foreign)
            ],
            hint="pass --layout NAME (or set layout in [tool.migrator]) to read it as one",
        )
    # goose and dbmate files are named like up-only migrator files: what decided was
    # their content; Flyway or diesel beside .up.sql pairs are a mix
    # (a .up.sql / .down.sql pair beside them is a mix all the same)
    mixed = any(layout.name == DEFAULT for layout in claimed)
    paired = any(name.endswith((".up.sql", ".down.sql")) for name in listing.files)
    if foreign and mixed and (paired or foreign[0].name not in ("goose", "dbmate")):
        raise SourceError(
            [
                f"{listing.directory} holds migrator/golang-migrate files and "
                f"{foreign[0].name} migrations"
            ],
            hint="pass --layout NAME (or set layout in [tool.migrator]) to read it as one",
        )
    return foreign[0] if foreign else LAYOUTS[DEFAULT]


__all__ = ["DEFAULT", "LAYOUTS", "LAYOUT_NAMES", "Layout", "detect", "named"]
