"""The lint cache: findings of files already linted, and the schema replayed so far.

What a file's findings depend on is known exactly: migrator's own code, the lint
options, the catalog the file is linted against, the file's bytes and the name it is
shown under. The catalog before a migration depends only on the up files before it, in
order. So each migration ``i`` of a directory gets a chain key

    chain(i) = sha256(chain(i - 1), label(i), sha256(up file i))

(``chain(-1)`` folds in the code and the options), each linted file a key made of the
chain and its own bytes, and a run that ends at migration ``n`` leaves a snapshot of the
catalog under ``chain(n)``. The next run takes the findings of every file whose key it
finds, and lints only from the newest snapshot on: after one new migration is added,
only that one is replayed and linted. Nothing stale can be served: a changed byte in
any earlier up file, in the options, or in migrator changes every key after it.

The cache lives in the user's cache directory (``$XDG_CACHE_HOME/migrator/lint``,
else ``~/.cache/migrator/lint``), never in the working tree: it is pickled, and a
pickle planted in a repository (a pull request can add any file) would run code when
loaded. ``MIGRATOR_CACHE_DIR`` moves it (a place inside the git working tree of the
migrations directory or the current directory is refused), ``migrate lint
--no-cache`` skips it; a file not owned by the user running migrator is never loaded.
The folder holds a ``CACHEDIR.TAG`` and a ``.gitignore`` of ``*``. The cache only ever
speeds a run up: one that cannot be read or written is ignored, and a live run
(``--database-url``) never uses it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import random
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migrator.errors import UsageError
from migrator.lint.findings import Finding
from migrator.lint.options import LintOptions
from migrator.source.model import Migration, MigrationFile
from migrator.sql.catalog import Catalog

#: catalog snapshots kept (the newest by modification time); each run adds one or two
KEEP_SNAPSHOTS = 16
#: files' findings kept (the newest by modification time), checked now and then
KEEP_ENTRIES = 20_000
#: the chance that a run which wrote entries checks :data:`KEEP_ENTRIES`
PRUNE_CHANCE = 0.05
_FORMAT = b"migrator lint cache 1"


def cache_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the cache lives: ``$MIGRATOR_CACHE_DIR``, else ``migrator`` in the user's
    cache directory; ``None`` when there is no home directory to put it in."""
    environ = os.environ if environ is None else environ
    if environ.get("MIGRATOR_CACHE_DIR"):
        return Path(environ["MIGRATOR_CACHE_DIR"])
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]) / "migrator"
    try:
        home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    except (RuntimeError, KeyError):
        return None
    return home / ".cache" / "migrator"


def _working_tree(place: Path) -> Path | None:
    """The git working tree holding ``place`` (the nearest folder at or above it with a
    ``.git``), or ``None``."""
    for folder in (place, *place.parents):
        if (folder / ".git").exists():
            return folder
    return None


def refuse_inside_checkout(
    root: Path, places: Iterable[Path], environ: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`UsageError` when the cache ``root`` (moved there by
    ``MIGRATOR_CACHE_DIR`` or ``XDG_CACHE_HOME``) lies in the git working tree of one
    of ``places`` (the migrations directory, the current directory): a pull request can
    commit files there, and the cache is loaded with pickle. The default location in
    the home directory is not checked (a dotfiles repository at ``~`` is no checkout
    of the project)."""
    environ = os.environ if environ is None else environ
    setting = next((n for n in ("MIGRATOR_CACHE_DIR", "XDG_CACHE_HOME") if environ.get(n)), None)
    if setting is None:
        return
    where = Path(os.path.realpath(root))
    for place in places:
        tree = _working_tree(Path(os.path.realpath(place)))
        if tree is not None and where.is_relative_to(tree):
            raise UsageError(
                f"the lint cache {root} (from {setting}) is inside the git working tree "
                f"{tree}: files a pull request commits there would be loaded as cache "
                "(pickle runs code); set it to a folder outside the checkout, or use "
                "migrate lint --no-cache"
            )


def _load(path: Path) -> object:
    """Unpickle ``path`` if the user running migrator owns it; ``None`` otherwise, or
    when it is absent or unreadable."""
    try:
        with open(path, "rb") as stream:
            if hasattr(os, "getuid") and os.fstat(stream.fileno()).st_uid != os.getuid():
                return None
            return pickle.load(stream)
    except Exception:  # absent, truncated, or from another layout: not there
        return None


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> bytes:
    """sha256 over migrator's own modules (path, size, modification time) and the
    Python version: any change to the linter's code starts a fresh cache."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(_FORMAT + sys.version.encode())
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".md", ".json")):
                stat = os.stat(os.path.join(folder, name))
                relative = os.path.relpath(os.path.join(folder, name), package)
                digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.digest()


def options_fingerprint(options: LintOptions) -> bytes:
    """The options that change findings, in a stable spelling."""
    text = repr(
        (
            options.pg_version,
            options.pg_version_origin,
            options.runner_lock_timeout_ms,
            sorted(options.disabled),
            sorted((rule, str(severity.value)) for rule, severity in options.severities.items()),
            options.exclude_paths,
        )
    )
    return hashlib.sha256(text.encode()).digest()


@dataclass
class CachedFile:
    """What linting one file produced."""

    findings: list[Finding]
    internal_errors: list[str] = field(default_factory=list)


class LintCache:
    """The cache of one lint run (one set of options)."""

    def __init__(self, root: Path, options: LintOptions) -> None:
        self.root = root
        self.seed = hashlib.sha256(code_fingerprint() + options_fingerprint(options)).digest()
        #: entries produced by this run, written by :meth:`save`
        self.fresh: dict[bytes, CachedFile] = {}

    # -- keys ------------------------------------------------------------------------

    def chains(self, migrations: Sequence[Migration]) -> list[bytes]:
        """``chain(i)`` for each migration: the key of the catalog after its up file."""
        keys = []
        chain = self.seed
        for migration in migrations:
            chain = hashlib.sha256(
                chain + migration.label.encode() + b"\0" + migration.up.checksum.encode()
            ).digest()
            keys.append(chain)
        return keys

    #: the "chain" of a file linted on its own, against an empty catalog
    ALONE = b"linted alone"

    def file_key(self, chain: bytes, migration_file: MigrationFile, display: str) -> bytes:
        """The key of a file's findings: the code and options, the catalog it is linted
        against (its own migration's chain: a down file is linted after its up;
        :data:`ALONE` for a file that is no migration), its name, bytes and display."""
        role = migration_file.path.name.encode()
        return hashlib.sha256(
            self.seed
            + chain
            + role
            + b"\0"
            + migration_file.checksum.encode()
            + b"\0"
            + display.encode()
        ).digest()

    # -- reading ---------------------------------------------------------------------

    def lookup(self, key: bytes) -> CachedFile | None:
        """The findings stored under ``key``, or ``None``."""
        if key in self.fresh:
            return self.fresh[key]
        entry = _load(self._entry_path(key))
        return entry if isinstance(entry, CachedFile) else None

    def snapshot(self, chain: bytes) -> Catalog | None:
        """The catalog stored under ``chain``, or ``None``."""
        catalog = _load(self._snapshot_path(chain))
        return catalog if isinstance(catalog, Catalog) else None

    def has_snapshot(self, chain: bytes) -> bool:
        return self._snapshot_path(chain).is_file()

    # -- writing ---------------------------------------------------------------------

    def record(self, key: bytes, entry: CachedFile) -> None:
        self.fresh[key] = entry

    def store_snapshot(self, chain: bytes, catalog: Catalog) -> None:
        """Keep ``catalog`` under ``chain`` (quietly does nothing if it cannot)."""
        if self.has_snapshot(chain):
            return
        with contextlib.suppress(Exception):
            self._write(self._snapshot_path(chain), pickle.dumps(catalog, protocol=5))
            self._prune(self._folder.glob("catalog-*.pickle"), KEEP_SNAPSHOTS)

    def save(self) -> None:
        """Write this run's new entries, one file each (quietly does nothing if it
        cannot); now and then, drop the oldest entries past :data:`KEEP_ENTRIES`."""
        if not self.fresh:
            return
        with contextlib.suppress(Exception):
            for key, entry in self.fresh.items():
                self._write(self._entry_path(key), pickle.dumps(entry, protocol=5))
            if random.random() < PRUNE_CHANCE:
                self._prune((self._folder / "entries").glob("*/*.pickle"), KEEP_ENTRIES)

    # -- files -------------------------------------------------------------------------

    @property
    def _folder(self) -> Path:
        return self.root / "lint"

    def _entry_path(self, key: bytes) -> Path:
        name = key.hex()
        return self._folder / "entries" / name[:2] / f"{name[2:40]}.pickle"

    def _snapshot_path(self, chain: bytes) -> Path:
        return self._folder / f"catalog-{chain.hex()[:40]}.pickle"

    def _write(self, path: Path, payload: bytes) -> None:
        _prepare(self.root)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(payload)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @staticmethod
    def _prune(paths: Iterable[Path], keep: int) -> None:
        """Remove all but the ``keep`` newest of ``paths`` (by modification time)."""
        dated = sorted(((p.stat().st_mtime_ns, p) for p in paths), reverse=True)
        for _, old in dated[keep:]:
            with contextlib.suppress(OSError):
                old.unlink()


def _prepare(root: Path) -> None:
    """Create the cache folder with its ``.gitignore`` and ``CACHEDIR.TAG``."""
    if (root / ".gitignore").is_file():
        return
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "CACHEDIR.TAG").write_text(
        "Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This file is a cache directory tag created by migrator.\n"
    )
    (root / ".gitignore").write_text("# created by migrator: this folder is a cache\n*\n")


@dataclass
class Resumption:
    """Where a directory run starts. The first ``cached`` migrations need no linting
    (their files' findings are in ``entries``); ``catalog`` is the schema after the
    first ``replayed_from`` of them (a snapshot, or empty), so the ones from
    ``replayed_from`` to ``cached`` are replayed without linting before the run lints
    the rest."""

    replayed_from: int
    cached: int
    catalog: Catalog
    entries: list[CachedFile]


def resume(
    cache: LintCache,
    migrations: Sequence[Migration],
    chains: Sequence[bytes],
    linted_files: Callable[[Migration], list[tuple[MigrationFile, str]]],
) -> Resumption:
    """The furthest point a run can start linting from (every linted file before it
    found in the cache), and the nearest catalog snapshot at or before it."""
    entries: list[CachedFile] = []
    cached = 0
    for migration, chain in zip(migrations, chains, strict=True):
        found = []
        for migration_file, display in linted_files(migration):
            entry = cache.lookup(cache.file_key(chain, migration_file, display))
            if entry is None:
                break
            found.append(entry)
        else:
            entries.extend(found)
            cached += 1
            continue
        break
    if cached == len(migrations):  # nothing left to lint: no schema needed
        return Resumption(cached, cached, Catalog(), entries)
    for point in range(cached, 0, -1):
        snapshot = cache.snapshot(chains[point - 1])
        if snapshot is not None:
            return Resumption(point, cached, snapshot, entries)
    return Resumption(0, cached, Catalog(), entries)
