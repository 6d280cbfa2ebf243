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

The cache lives in ``.migrator_cache/`` in the working directory (``MIGRATOR_CACHE_DIR``
moves it; ``migrate lint --no-cache`` skips it); it holds a ``.gitignore`` of ``*`` and
a ``CACHEDIR.TAG``, so it is never committed or backed up. It only ever speeds a run
up: a cache that cannot be read or written is ignored, and a live run
(``--database-url``) never uses it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migrator.lint.findings import Finding
from migrator.lint.options import LintOptions
from migrator.source.model import Migration, MigrationFile
from migrator.sql.catalog import Catalog

#: the cache's folder under the working directory, unless MIGRATOR_CACHE_DIR says
DEFAULT_DIRECTORY = ".migrator_cache"
#: catalog snapshots kept (the newest by modification time); each run adds one
KEEP_SNAPSHOTS = 8
#: findings entries kept; past this the index starts again from this run's entries
KEEP_ENTRIES = 50_000
_FORMAT = b"migrator lint cache 1"


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """Where the cache lives: ``$MIGRATOR_CACHE_DIR`` or ``.migrator_cache``."""
    configured = (environ if environ is not None else os.environ).get("MIGRATOR_CACHE_DIR")
    return Path(configured) if configured else Path(DEFAULT_DIRECTORY)


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
        self._index: dict[bytes, CachedFile] | None = None
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

    @staticmethod
    def file_key(chain: bytes, migration_file: MigrationFile, display: str) -> bytes:
        """The key of a file's findings: the catalog it is linted against (its own
        migration's chain: a down file is linted after its up), its bytes and name."""
        role = migration_file.path.name.encode()
        return hashlib.sha256(
            chain + role + b"\0" + migration_file.checksum.encode() + b"\0" + display.encode()
        ).digest()

    # -- reading ---------------------------------------------------------------------

    def lookup(self, key: bytes) -> CachedFile | None:
        if self._index is None:
            self._index = self._load_index()
        return self.fresh.get(key) or self._index.get(key)

    def snapshot(self, chain: bytes) -> Catalog | None:
        """The catalog stored under ``chain``, or ``None``."""
        try:
            with open(self._snapshot_path(chain), "rb") as stream:
                catalog = pickle.load(stream)
        except Exception:  # absent, truncated, or from another layout: not there
            return None
        return catalog if isinstance(catalog, Catalog) else None

    def has_snapshot(self, chain: bytes) -> bool:
        return self._snapshot_path(chain).is_file()

    def _load_index(self) -> dict[bytes, CachedFile]:
        try:
            with open(self._index_path, "rb") as stream:
                index = pickle.load(stream)
        except Exception:
            return {}
        return index if isinstance(index, dict) else {}

    # -- writing ---------------------------------------------------------------------

    def record(self, key: bytes, entry: CachedFile) -> None:
        self.fresh[key] = entry

    def store_snapshot(self, chain: bytes, catalog: Catalog) -> None:
        """Keep ``catalog`` under ``chain`` (quietly does nothing if it cannot)."""
        if self.has_snapshot(chain):
            return
        with contextlib.suppress(Exception):
            self._write(self._snapshot_path(chain), pickle.dumps(catalog, protocol=5))
            self._prune_snapshots()

    def save(self) -> None:
        """Write this run's entries into the index (quietly does nothing if it cannot)."""
        if not self.fresh:
            return
        with contextlib.suppress(Exception):
            index = self._index if self._index is not None else self._load_index()
            if len(index) + len(self.fresh) > KEEP_ENTRIES:
                index = {}
            index.update(self.fresh)
            self._write(self._index_path, pickle.dumps(index, protocol=5))

    # -- files -------------------------------------------------------------------------

    @property
    def _folder(self) -> Path:
        return self.root / "lint"

    @property
    def _index_path(self) -> Path:
        return self._folder / f"findings-{self.seed.hex()[:16]}.pickle"

    def _snapshot_path(self, chain: bytes) -> Path:
        return self._folder / f"catalog-{chain.hex()[:32]}.pickle"

    def _write(self, path: Path, payload: bytes) -> None:
        _prepare(self.root)
        self._folder.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self._folder, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(payload)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _prune_snapshots(self) -> None:
        snapshots = sorted(
            self._folder.glob("catalog-*.pickle"), key=lambda p: p.stat().st_mtime_ns
        )
        for old in snapshots[:-KEEP_SNAPSHOTS]:
            with contextlib.suppress(OSError):
                old.unlink()


def _prepare(root: Path) -> None:
    """Create the cache folder with its ``.gitignore`` and ``CACHEDIR.TAG``."""
    if (root / ".gitignore").is_file():
        return
    root.mkdir(parents=True, exist_ok=True)
    (root / "CACHEDIR.TAG").write_text(
        "Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This file is a cache directory tag created by migrator.\n"
    )
    (root / ".gitignore").write_text("# created by migrator: this folder is a cache\n*\n")


@dataclass
class Resumption:
    """Where a directory run starts: the migrations whose files all came from the cache,
    and the catalog after them (``None`` when no snapshot is needed or found)."""

    start: int
    catalog: Catalog
    entries: list[CachedFile]


def resume(
    cache: LintCache,
    migrations: Sequence[Migration],
    chains: Sequence[bytes],
    linted_files: Callable[[Migration], list[tuple[MigrationFile, str]]],
) -> Resumption:
    """The furthest point a run can start from: every linted file before it found in
    the cache, and a catalog snapshot there (or the very end: nothing left to lint)."""
    entries: list[CachedFile] = []
    per_migration: list[list[CachedFile]] = []
    for migration, chain in zip(migrations, chains, strict=True):
        found = []
        for migration_file, display in linted_files(migration):
            entry = cache.lookup(LintCache.file_key(chain, migration_file, display))
            if entry is None:
                break
            found.append(entry)
        else:
            per_migration.append(found)
            continue
        break
    hits = len(per_migration)
    if hits == len(migrations):
        start, catalog = hits, Catalog()
    else:
        start, catalog = 0, Catalog()
        for point in range(hits, 0, -1):
            snapshot = cache.snapshot(chains[point - 1])
            if snapshot is not None:
                start, catalog = point, snapshot
                break
    for found in per_migration[:start]:
        entries.extend(found)
    return Resumption(start, catalog, entries)
