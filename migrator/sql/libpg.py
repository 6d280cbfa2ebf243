"""pglast's parser, loaded without what the JSON parser never uses.

Importing ``pglast.parser`` imports ``pglast.enums`` (hundreds of enum classes) and
``pglast.ast`` (a class per node type) first: about 40 ms, a third of a pre-commit
``migrate lint``, spent on modules that parsing to JSON, splitting and scanning never
touch. :func:`parser` puts a stand-in for each into ``sys.modules`` before pglast is
imported; the first attribute asked of a stand-in imports the real module into it, so
code that does use them (the planner, :func:`pglast.parser.parse_sql`) works as
before, only later.

Import ``pg_parser`` from here rather than ``pglast.parser`` so the stand-ins are in
place; a module that imports pglast first merely costs the time again.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

#: pglast modules that ``pglast.parser`` imports but parsing to JSON never uses
_DEFERRED = ("enums", "ast")


class _Deferred(types.ModuleType):
    """Stands in for a pglast module until one of its attributes is asked for."""

    def __getattr__(self, attribute: str) -> Any:
        real = _load(self)
        return getattr(real, attribute)


def _load(stand_in: _Deferred) -> types.ModuleType:
    """Import the real module and make the stand-in its alias (its namespace copied,
    so later lookups on the stand-in find the attributes directly)."""
    name = stand_in.__name__
    if sys.modules.get(name) is stand_in:
        del sys.modules[name]
    real = importlib.import_module(name)
    vars(stand_in).update(vars(real))
    return real


def _install() -> None:
    if "pglast" in sys.modules:
        return  # imported already (by code that does not come through here)
    spec = importlib.util.find_spec("pglast")
    if spec is None or not spec.submodule_search_locations:
        return
    for short in _DEFERRED:
        name = f"pglast.{short}"
        found = importlib.machinery.PathFinder.find_spec(name, spec.submodule_search_locations)
        if found is None:
            return
        stand_in = _Deferred(name)
        stand_in.__spec__ = found
        sys.modules[name] = stand_in
    import pglast

    for short in _DEFERRED:  # `import pglast.ast; pglast.ast.X` needs the attribute
        module = sys.modules[f"pglast.{short}"]
        if isinstance(module, _Deferred):
            setattr(pglast, short, module)


_install()

from pglast import parser as pg_parser  # noqa: E402  (after the stand-ins are in place)

__all__ = ["pg_parser"]
