"""libpq's connection-string parser, without importing psycopg.

:mod:`migrator.db.conninfo` asks libpq itself what a connection string means
(``PQconninfoParse``) and which keywords exist (``PQconndefaults``). psycopg binds
both, but importing psycopg costs about 0.1 s of CPU (it loads its whole adaptation
layer), which every ``migrate`` command that connects would pay before its first
statement. This module calls the same two functions of the same library through
:mod:`ctypes`: the libpq that psycopg's binary package ships, else the system's
``libpq.so.5``; only where neither loads does it fall back to psycopg's binding.
The answers are the same (``tests/test_libpq.py`` compares them).
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Option:
    """One ``PQconninfoOption``: the fields :mod:`migrator.db.conninfo` reads."""

    keyword: bytes
    envvar: bytes | None
    compiled: bytes | None
    val: bytes | None
    dispchar: bytes


class ConninfoError(ValueError):
    """libpq refused the connection string; the message is libpq's own."""


class _PQconninfoOption(ctypes.Structure):
    _fields_ = [
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    ]


_OPTIONS = ctypes.POINTER(_PQconninfoOption)


def _candidates() -> list[str]:
    """The libpq files to try: psycopg's own copy first (its wheel's ``.libs``), then
    the system's."""
    found: list[str] = []
    spec = importlib.util.find_spec("psycopg_binary")  # locates, does not import
    if spec is not None and spec.origin is not None:
        package = Path(spec.origin).parent
        # Linux wheels keep it beside the package, macOS wheels inside it
        found += sorted(
            str(path) for path in (package.parent / "psycopg_binary.libs").glob("libpq*.so*")
        )
        found += sorted(str(path) for path in (package / ".dylibs").glob("libpq*.dylib"))
    return [*found, "libpq.so.5", "libpq.dylib"]


@cache
def _library() -> ctypes.CDLL | None:
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(candidate)
        except OSError:
            continue
        library.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        library.PQconninfoParse.restype = _OPTIONS
        library.PQconndefaults.argtypes = []
        library.PQconndefaults.restype = _OPTIONS
        library.PQconninfoFree.argtypes = [_OPTIONS]
        library.PQconninfoFree.restype = None
        library.PQfreemem.argtypes = [ctypes.c_void_p]
        library.PQfreemem.restype = None
        return library
    return None


def _read(library: ctypes.CDLL, options: ctypes._Pointer[_PQconninfoOption]) -> list[Option]:
    """The options of a libpq array (ended by a NULL keyword), which is then freed."""
    found = []
    try:
        index = 0
        while options[index].keyword is not None:
            option = options[index]
            found.append(
                Option(
                    option.keyword, option.envvar, option.compiled, option.val,
                    option.dispchar or b"",
                )
            )  # fmt: skip
            index += 1
    finally:
        library.PQconninfoFree(options)
    return found


def parse(conninfo: bytes) -> list[Option]:
    """``PQconninfoParse``: every keyword, with the string's value or ``None``; raises
    :class:`ConninfoError` with libpq's message."""
    library = _library()
    if library is None:
        return _psycopg_parse(conninfo)
    error = ctypes.c_void_p()
    options = library.PQconninfoParse(conninfo, ctypes.byref(error))
    if not options:
        message = b"out of memory"
        if error.value:
            message = ctypes.string_at(error.value)
            library.PQfreemem(error)
        raise ConninfoError(message.decode(errors="replace"))
    return _read(library, options)


def defaults() -> list[Option]:
    """``PQconndefaults``: every keyword with its environment variable and its
    compiled-in default."""
    library = _library()
    if library is None:
        return _psycopg_defaults()
    options = library.PQconndefaults()
    if not options:
        raise MemoryError("libpq could not list its connection options")
    return _read(library, options)


def _from_psycopg(options: Iterable[Any]) -> list[Option]:
    return [Option(o.keyword, o.envvar, o.compiled, o.val, o.dispchar or b"") for o in options]


def _psycopg_parse(conninfo: bytes) -> list[Option]:
    from psycopg import pq

    try:
        return _from_psycopg(pq.Conninfo.parse(conninfo))
    except Exception as exc:  # psycopg.OperationalError: libpq's own message
        raise ConninfoError(str(exc)) from None


def _psycopg_defaults() -> list[Option]:
    from psycopg import pq

    return _from_psycopg(pq.Conninfo.get_defaults())
