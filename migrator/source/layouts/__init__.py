"""The layouts migrator reads: its own and those of the tools teams come from.

A directory's layout is detected from what it holds (:func:`detect`), or named with
``--layout`` / ``layout =`` in ``[tool.migrator]``. Each layout's rules follow that
tool's own documentation and code; docs/runner.md ("Coming from another tool") says
where migrator differs.

A layout's module is imported when the layout is named or may claim the directory: a
directory of migrator's own files does not pay for reading the other tools' layouts
(every command starts faster; ``migrate lint`` of one file most of all).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from migrator.errors import SourceError, UsageError
from migrator.source.layouts.base import Layout, Listing


def _holds_folders(listing: Listing) -> bool:
    return bool(listing.folders)  # diesel: a folder holding up.sql


def _holds_flyway_names(listing: Listing) -> bool:
    # Flyway: V<version>__, U<version>__ or R__ names ending in .sql, here or in a
    # sub-directory (Flyway scans a location recursively)
    return bool(listing.folders) or any(
        name.startswith(("V", "U", "R__")) for name in listing.files
    )


def _holds_one_file_migrations(listing: Listing) -> bool:
    # goose, dbmate: <version>_<name>.sql files (not .up.sql / .down.sql) with a marker;
    # both tools' versions are ASCII digits
    return any(
        "0" <= name[:1] <= "9"
        and name.endswith(".sql")
        and not name.endswith((".up.sql", ".down.sql"))
        for name in listing.files
    )


#: every layout by its name, in detection order (the most specific first): the module
#: and class that read it, and a cheap test that every directory the layout claims
#: passes (None: never detected, only named), so that detection imports a module only
#: when its layout may claim the directory
_REGISTRY: dict[str, tuple[str, str, Callable[[Listing], bool] | None]] = {
    "diesel": ("diesel", "DieselLayout", _holds_folders),
    "flyway": ("flyway", "FlywayLayout", _holds_flyway_names),
    "goose": ("goose", "GooseLayout", _holds_one_file_migrations),
    "dbmate": ("dbmate", "DbmateLayout", _holds_one_file_migrations),
    "migrator": ("paired", "PairedLayout", None),
    "golang-migrate": ("paired", "GolangMigrateLayout", None),
    "sqlx": ("paired", "SqlxLayout", None),
}
#: what ``--layout`` accepts
LAYOUT_NAMES: tuple[str, ...] = ("auto", *_REGISTRY)
DEFAULT = "migrator"

_loaded: dict[str, Layout] = {}


def named(name: str) -> Layout:
    """The layout called ``name``; :class:`UsageError` naming the choices otherwise."""
    layout = _loaded.get(name)
    if layout is not None:
        return layout
    try:
        module, class_name, _ = _REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"unknown layout {name!r}", hint="choose one of " + ", ".join(LAYOUT_NAMES)
        ) from None
    layout_class: type[Layout] = getattr(
        importlib.import_module(f"{__name__}.{module}"), class_name
    )
    layout = _loaded[name] = layout_class()
    return layout


def detect(listing: Listing) -> Layout:
    """The layout ``listing`` is written in (migrator's own when nothing else fits, so
    an empty directory gets it). Two layouts at once is an error: pass ``--layout``."""
    foreign = [
        named(name)
        for name, (_, _, may_claim) in _REGISTRY.items()
        if name != DEFAULT and may_claim is not None and may_claim(listing)
    ]
    foreign = [layout for layout in foreign if layout.claims(listing)]
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
    paired = any(name.endswith((".up.sql", ".down.sql")) for name in listing.files)
    if (
        foreign
        and (paired or foreign[0].name not in ("goose", "dbmate"))
        and named(DEFAULT).claims(listing)
    ):
        raise SourceError(
            [
                f"{listing.directory} holds migrator/golang-migrate files and "
                f"{foreign[0].name} migrations"
            ],
            hint="pass --layout NAME (or set layout in [tool.migrator]) to read it as one",
        )
    return foreign[0] if foreign else named(DEFAULT)


__all__ = ["DEFAULT", "LAYOUT_NAMES", "Layout", "detect", "named"]
