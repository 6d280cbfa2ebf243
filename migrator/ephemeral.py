"""A throwaway PostgreSQL server for tests and dry runs.

:class:`EphemeralServer` creates a private cluster in a temporary directory
(``initdb`` with trust authentication for the ``postgres`` role), starts ``postgres``
on a free loopback port with settings that trade durability for speed, and removes
everything again when it stops::

    with EphemeralServer() as server:
        dsn = server.dsn()          # postgresql://postgres@127.0.0.1:PORT/postgres

Cleanup is guaranteed on normal exit, exceptions, Ctrl-C, SIGTERM and SIGHUP (handlers
are installed while a server runs and restored afterwards; a second Ctrl-C waits until
the server is gone), with an ``atexit`` fallback. On Linux the server is also started
with a parent-death signal (from a long-lived thread, so a server started by a worker
thread outlives that thread), so even a killed Python process does not leave a server
running; the directory such a process leaves behind is removed by the next start.

``initdb`` and ``postgres`` refuse to run as root. When this process is root, the
server processes run as an unprivileged OS user (``MIGRATOR_PG_OS_USER``, else
``postgres`` if it exists, else ``nobody``) that owns the temporary directory (made in
/tmp or /var/tmp when that user cannot enter ``TMPDIR``).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import hashlib
import os
import pwd
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from stat import S_ISREG, S_IXGRP, S_IXOTH, S_IXUSR
from types import FrameType, TracebackType
from typing import Any

from migrator.errors import ServerUnavailable

#: Environment variable naming the directory that holds ``initdb`` and ``postgres``.
PG_BIN_ENV = "PG_BIN"
#: Environment variable naming the OS user that runs the server when we are root.
OS_USER_ENV = "MIGRATOR_PG_OS_USER"

_INSTALL_HINT = (
    "install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; "
    "macOS: brew install postgresql@15), set PG_BIN to the directory holding initdb, "
    "or pass --database-url"
)
#: Settings for a cluster whose data may be lost: nothing is flushed to disk.
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "200",
    "log_min_messages": "warning",
}
_STARTUP_TIMEOUT_S = 30.0
_SHUTDOWN_TIMEOUT_S = 10.0
_PORT_ATTEMPTS = 5
_LOG_TAIL_LINES = 12
_REQUIRED_BINARIES = ("initdb", "postgres")
#: Signals that stop the servers like Ctrl-C does (SIGHUP only where it exists).
_HANDLED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Signals held back while a server stops, so a second Ctrl-C cannot cut its cleanup
#: short (they are delivered as soon as the server is gone).
_DEFERRED_SIGNALS = frozenset({signal.SIGINT, *_HANDLED_SIGNALS})


def _has_server_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() for name in _REQUIRED_BINARIES)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        completed = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = completed.stdout.strip()
    return Path(text) if completed.returncode == 0 and text else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_server_binaries(override: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding ``initdb`` and ``postgres``.

    Looks, in order, at ``override`` (else the ``PG_BIN`` environment variable),
    ``pg_config --bindir``, ``initdb`` on ``PATH`` (symlinks resolved), and the newest
    ``/usr/lib/postgresql/*/bin``. An explicit override that lacks the binaries is an
    error rather than a reason to look elsewhere.

    Raises :class:`ServerUnavailable` saying how to install PostgreSQL.
    """
    explicit = override if override is not None else os.environ.get(PG_BIN_ENV) or None
    if explicit is not None:
        directory = Path(explicit).expanduser()
        if _has_server_binaries(directory):
            return directory
        raise ServerUnavailable(
            f"no PostgreSQL server binaries (initdb, postgres) in {directory}",
            hint=_INSTALL_HINT,
        )
    candidates: list[Path] = []
    bindir = _pg_config_bindir()
    if bindir is not None:
        candidates.append(bindir)
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).parent)
        candidates.append(Path(on_path).resolve().parent)
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    for directory in candidates:
        if _has_server_binaries(directory):
            return directory
    raise ServerUnavailable(
        "no PostgreSQL server binaries found (initdb, postgres)", hint=_INSTALL_HINT
    )


#: initdb options (besides -D): trust auth for the ``postgres`` role, UTF-8, C locale
_INITDB_OPTIONS = (
    "-A",
    "trust",
    "-U",
    "postgres",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
)
#: Set to ``off`` to make every server run initdb instead of copying a cached cluster.
CACHE_ENV = "MIGRATOR_INITDB_CACHE"


def _cluster_cache(bin_dir: Path) -> Path | None:
    """Where a pristine cluster made by this ``initdb`` is kept: in the invoking user's
    cache directory (never a shared one: a planted cluster could carry settings that
    run code), keyed by the binary and the options. ``None`` when caching is off."""
    if os.environ.get(CACHE_ENV, "").strip().lower() in ("0", "off", "no", "false"):
        return None
    try:
        initdb = (bin_dir / "initdb").resolve()
        stat = initdb.stat()
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except (OSError, RuntimeError):
        return None
    identity = f"{initdb}|{stat.st_size}|{stat.st_mtime_ns}|{' '.join(_INITDB_OPTIONS)}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return home / "migrator" / f"initdb-{key}"


def _store_cluster(data_dir: Path, cache: Path) -> None:
    """Keep a copy of a cluster initdb just made (best effort; concurrent processes
    each copy to a private name and the first rename wins)."""
    staging = cache.parent / f".{cache.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copytree(data_dir, staging, symlinks=True)
        os.rename(staging, cache)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


_BASE_PREFIX = "migrator-pg-"
#: Where the server's directory goes as root when the unprivileged user cannot enter
#: the temporary directory (``TMPDIR=/root/tmp``): places every user may enter.
_SHARED_TEMP_DIRS = ("/tmp", "/var/tmp")
#: In each server's directory: "PID START-TIME" of the process that owns it.
_OWNER_FILE = "owner"
#: A server directory younger than this is never removed as stale.
_STALE_AFTER_S = 120.0


def _owner_mark(pid: int) -> str | None:
    """``PID START-TIME`` of a running process (the start time tells a reused pid from
    the original), ``PID`` where there is no /proc, ``None`` when it does not run."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return str(pid)
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return f"{pid} {fields[19]}"


def _accepts_connections(socket_dir: Path) -> bool:
    """A server listens on a unix socket in ``socket_dir`` (seen even from another pid
    namespace sharing this temporary directory)."""
    for path in socket_dir.glob(".s.PGSQL.*[0-9]"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(path))
            except OSError:
                continue
            return True
    return False


def _is_stale(base: Path) -> bool:
    """A server directory this user made whose owner no longer runs (killed with
    SIGKILL, or the machine went down), whose postmaster is gone too, and which nothing
    touched for :data:`_STALE_AFTER_S`."""
    owner = base / _OWNER_FILE
    try:
        status = owner.lstat()
        if not S_ISREG(status.st_mode) or status.st_uid != os.geteuid():
            return False
        if time.time() - base.stat().st_mtime < _STALE_AFTER_S:
            return False
        mark = owner.read_text(encoding="utf-8").strip()
        pid = int(mark.split()[0])
    except (OSError, ValueError, IndexError):
        return False  # being made right now, or not ours
    if _owner_mark(pid) == mark:
        return False
    with contextlib.suppress(OSError, ValueError, IndexError):
        postmaster = int((base / "data" / "postmaster.pid").read_text().splitlines()[0])
        if _owner_mark(postmaster) is not None:
            return False
    return not _accepts_connections(base / "socket")


def remove_stale_directories(directory: Path | None = None) -> list[Path]:
    """Remove the directories of servers whose owning process was killed without a
    chance to clean up (``kill -9``, OOM killer); returns them. Run at each start."""
    where = Path(directory or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for base in where.glob(f"{_BASE_PREFIX}*"):
            if base.is_dir() and not base.is_symlink() and _is_stale(base):
                shutil.rmtree(base, ignore_errors=True)
                removed.append(base)
    return removed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd:
    """The OS user that runs the server when this process is root."""
    requested = os.environ.get(OS_USER_ENV)
    names = [requested] if requested else ["postgres", "nobody"]
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry
    raise ServerUnavailable(
        f"running as root and no unprivileged OS user to run PostgreSQL ({', '.join(names)})",
        hint=f"create one (useradd postgres) or name one in {OS_USER_ENV}",
    )


def _enterable_by(user: pwd.struct_passwd, directory: Path) -> bool:
    """Whether ``user`` may enter ``directory``: search permission, by the mode bits, on
    it and on every directory above it."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    try:
        resolved = directory.resolve(strict=True)
        for path in (resolved, *resolved.parents):
            status = path.stat()
            if status.st_uid == user.pw_uid:
                allowed = status.st_mode & S_IXUSR
            elif status.st_gid in groups:
                allowed = status.st_mode & S_IXGRP
            else:
                allowed = status.st_mode & S_IXOTH
            if not allowed:
                return False
    except (OSError, RuntimeError):
        return False
    return True


def _temporary_parent(user: pwd.struct_passwd | None) -> Path:
    """Where the server's private directory is made: the temporary directory, or, when
    the server runs as ``user`` (we are root) and ``user`` cannot enter it, the first of
    :data:`_SHARED_TEMP_DIRS` that it can."""
    default = Path(tempfile.gettempdir())
    if user is None:
        return default
    tried = list(dict.fromkeys([default, *map(Path, _SHARED_TEMP_DIRS)]))
    for directory in tried:
        if _enterable_by(user, directory):
            return directory
    raise ServerUnavailable(
        f"running as root, and the OS user {user.pw_name} that runs PostgreSQL cannot "
        f"enter any temporary directory ({', '.join(map(str, tried))})",
        hint=f"set TMPDIR to a directory {user.pw_name} can enter (it and every "
        f"directory above it need o+x), name another user in {OS_USER_ENV}, or pass --database-url",
    )


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold back Ctrl-C, SIGTERM and SIGHUP (main thread only) until the block ends;
    one that arrives meanwhile is then handed to the handler that was in place.
    Stopping takes milliseconds unless the server is busy, and at most the shutdown
    timeouts (16 s).

    Both a signal mask (it takes effect at once, before any handler is swapped) and
    recording handlers (the kernel hands a masked signal to any other thread, and
    Python then runs the handler in the main thread all the same)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = getattr(signal, "pthread_sigmask", None)
    blocked = mask(signal.SIG_BLOCK, _DEFERRED_SIGNALS) if mask else None
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in _DEFERRED_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                previous[sig] = signal.signal(sig, note)
        yield
    finally:
        if mask is not None and blocked is not None:
            mask(signal.SIG_SETMASK, blocked)  # runs ``note`` for what is pending
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            _deliver(received[0], previous.get(signal.Signals(received[0])))


def _deliver(signum: int, handler: Any) -> None:
    """Act on a signal that was held back as ``handler`` would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)


class _Cleanup:
    """Stops every running server at interpreter exit, on SIGTERM and on SIGHUP.

    One handler per signal is shared by all servers of the process: installed when the
    first server starts, restored when the last one stops. SIGHUP (the terminal or the
    SSH session went away) is only taken over while nobody else handles or ignores it
    (``nohup``).
    """

    def __init__(self) -> None:
        self._servers: list[EphemeralServer] = []
        self._lock = threading.Lock()
        self._previous: dict[signal.Signals, Any] = {}
        atexit.register(self.stop_all)

    def add(self, server: EphemeralServer) -> None:
        with self._lock:
            self._servers.append(server)
            if self._previous or threading.current_thread() is not threading.main_thread():
                return
            for sig in _HANDLED_SIGNALS:
                current = signal.getsignal(sig)
                if sig != signal.SIGTERM and current is not signal.SIG_DFL:
                    continue
                self._previous[sig] = current
                signal.signal(sig, self._on_signal)

    def remove(self, server: EphemeralServer) -> None:
        with self._lock:
            if server in self._servers:
                self._servers.remove(server)
            if self._servers or threading.current_thread() is not threading.main_thread():
                return
            previous, self._previous = self._previous, {}
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop_all(self) -> None:
        for server in list(self._servers):
            server.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Unwind like Ctrl-C: every ``with`` block and ``finally`` runs, the servers
        # stop, and the CLI exits with ExitCode.INTERRUPTED.
        raise KeyboardInterrupt(f"signal {signum}")


_CLEANUP = _Cleanup()


class _Spawner:
    """Starts server processes from a thread that lives as long as this process.

    Linux sends the parent-death signal when the *thread* that started a process exits,
    not the process: a server started from a short-lived thread (a worker pool,
    ``asyncio.to_thread``, a framework's start-up thread) would be stopped as soon as
    that thread ended. The main thread starts its servers itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[
            tuple[concurrent.futures.Future[subprocess.Popen[bytes]], list[str], dict[str, Any]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def popen(self, command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        if threading.current_thread() is threading.main_thread():
            return subprocess.Popen(command, **options)
        future: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="migrator-pg-spawner", daemon=True
                )
                self._thread.start()
        self._requests.put((future, command, options))
        return future.result()

    def _serve(self) -> None:
        while True:
            future, command, options = self._requests.get()
            try:
                future.set_result(subprocess.Popen(command, **options))
            except BaseException as exc:  # handed to the thread that asked
                future.set_exception(exc)


_SPAWNER = _Spawner()


class EphemeralServer:
    """A private PostgreSQL cluster that lives as long as this object is started.

    ``bin_dir``: where ``initdb`` and ``postgres`` are (default: :func:`find_server_binaries`).
    ``settings``: extra server settings (``-c name=value``), applied after the fast ones.
    """

    host = "127.0.0.1"
    user = "postgres"

    def __init__(
        self, bin_dir: Path | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        self._requested_bin_dir = bin_dir
        self.bin_dir: Path | None = bin_dir
        self.settings: dict[str, str] = {**FAST_SETTINGS, **(settings or {})}
        self.port: int = 0
        self.base_dir: Path | None = None
        self.data_dir: Path | None = None
        self.socket_dir: Path | None = None
        self.log_path: Path | None = None
        #: seconds from :meth:`start` until the server accepted connections
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._os_user: pwd.struct_passwd | None = None

    # -- public API -------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL for ``dbname`` on this server (no password: trust auth)."""
        if not self.port:
            raise ServerUnavailable("the ephemeral PostgreSQL server is not running")
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    def start(self) -> EphemeralServer:
        """Create the cluster and start the server; returns ``self``.

        Raises :class:`ServerUnavailable` (with the last lines of the server's output)
        when the binaries are missing or the server does not come up.
        """
        if self._process is not None:
            return self
        began = time.monotonic()
        self.bin_dir = find_server_binaries(self._requested_bin_dir)
        self._os_user = _unprivileged_user() if os.geteuid() == 0 else None
        _CLEANUP.add(self)
        try:
            self._make_directories()
            cache = self._initdb()
            try:
                self._launch()
            except ServerUnavailable:
                if cache is None:
                    raise
                # a damaged cached cluster: forget it, make a fresh one
                shutil.rmtree(cache, ignore_errors=True)
                assert self.data_dir is not None
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self._run_initdb()
                _store_cluster(self.data_dir, cache)
                self._launch()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, then harder) and remove its directories.

        Safe to call more than once, and from ``atexit``.
        """
        with _signals_deferred():
            process, self._process = self._process, None
            try:
                if process is not None:
                    self._terminate(process)
            finally:
                base, self.base_dir = self.base_dir, None
                if base is not None:
                    shutil.rmtree(base, ignore_errors=True)
                self.port = 0
        # Only now: interrupted before it got this far, the server stays registered
        # and the atexit hook finishes the job.
        _CLEANUP.remove(self)

    def __enter__(self) -> EphemeralServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- steps ------------------------------------------------------------------------

    def _make_directories(self) -> None:
        parent = _temporary_parent(self._os_user)
        remove_stale_directories(parent)
        base = Path(tempfile.mkdtemp(prefix=_BASE_PREFIX, dir=parent))
        self.base_dir = base
        (base / _OWNER_FILE).write_text(_owner_mark(os.getpid()) or "", encoding="utf-8")
        self.data_dir = base / "data"
        self.socket_dir = base / "socket"
        self.log_path = base / "server.log"
        self.socket_dir.mkdir(mode=0o700)
        self.log_path.touch(mode=0o600)
        if self._os_user is not None:
            for path in (base, self.socket_dir, self.log_path):
                os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)

    def _command_prefix(self) -> list[str]:
        """How to run a server binary: as the unprivileged user when we are root, and
        with a parent-death signal where ``setpriv`` exists (Linux)."""
        setpriv = shutil.which("setpriv")
        if self._os_user is not None:
            if setpriv is not None:
                return [
                    setpriv,
                    f"--reuid={self._os_user.pw_uid}",
                    f"--regid={self._os_user.pw_gid}",
                    "--init-groups",
                    "--pdeathsig=SIGQUIT",
                    "--",
                ]
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ServerUnavailable(
                    "running as root, and neither setpriv nor runuser is available to run "
                    "PostgreSQL as an unprivileged user",
                    hint="install util-linux, run as a normal user, or pass --database-url",
                )
            return [runuser, "-u", self._os_user.pw_name, "--"]
        if setpriv is not None:
            return [setpriv, "--pdeathsig=SIGQUIT", "--"]
        return []

    def _child_environment(self) -> dict[str, str]:
        keep = {"PATH", "LANG", "TZ", "TMPDIR", "SYSTEMROOT"}
        env = {key: value for key, value in os.environ.items() if key in keep}
        env["LC_ALL"] = "C"
        if self._os_user is not None:
            env["HOME"] = self._os_user.pw_dir
            env["USER"] = env["LOGNAME"] = self._os_user.pw_name
        return env

    def _initdb(self) -> Path | None:
        """A fresh cluster in ``data_dir``: a copy of the cached one when there is one
        (a copy takes a fraction of the time initdb does; returns the cache it came
        from), else made by initdb and then cached for the next server."""
        assert self.bin_dir and self.data_dir
        cache = _cluster_cache(self.bin_dir)
        if cache is not None and (cache / "PG_VERSION").is_file():
            try:
                self._copy_cluster(cache)
                return cache
            except OSError:
                shutil.rmtree(self.data_dir, ignore_errors=True)
        self._run_initdb()
        if cache is not None:
            _store_cluster(self.data_dir, cache)
        return None

    def _copy_cluster(self, cache: Path) -> None:
        assert self.data_dir
        shutil.copytree(cache, self.data_dir, symlinks=True)
        self.data_dir.chmod(0o700)
        if self._os_user is not None:
            uid, gid = self._os_user.pw_uid, self._os_user.pw_gid
            os.chown(self.data_dir, uid, gid)
            for path in self.data_dir.rglob("*"):
                os.chown(path, uid, gid, follow_symlinks=False)

    def _run_initdb(self) -> None:
        assert self.bin_dir and self.data_dir and self.base_dir
        command = [
            *self._command_prefix(),
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            *_INITDB_OPTIONS,
        ]
        try:
            completed = subprocess.run(
                command,
                cwd=self.base_dir,
                env=self._child_environment(),
                capture_output=True,
                timeout=_STARTUP_TIMEOUT_S * 4,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServerUnavailable(f"initdb could not run: {exc}", hint=_INSTALL_HINT) from None
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr).decode("utf-8", "replace")
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            raise ServerUnavailable(
                f"initdb failed (exit {completed.returncode}): "
                + " | ".join(lines[-_LOG_TAIL_LINES:]),
                hint="see the message above; pass --database-url to use an existing server",
            )

    def _launch(self) -> None:
        last_error = ""
        for _attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            process = self._spawn_postgres()
            try:
                outcome = self._wait_until_ready(process)
            except BaseException:
                # Ctrl-C or SIGTERM while it comes up: stop it before its directory goes
                self._terminate(process)
                raise
            if outcome == "ready":
                self._process = process
                return
            self._terminate(process)
            last_error = _tail(self.log_path) if self.log_path else ""
            if "could not bind" not in last_error and "already in use" not in last_error:
                break
            with contextlib.suppress(OSError):
                (self.data_dir / "postmaster.pid").unlink()  # type: ignore[operator]
        self.port = 0
        raise ServerUnavailable(
            f"PostgreSQL did not start: {last_error or 'no output'}",
            hint="see the message above; pass --database-url to use an existing server",
        )

    def _spawn_postgres(self) -> subprocess.Popen[bytes]:
        assert self.bin_dir and self.data_dir and self.socket_dir and self.log_path
        settings = {
            **self.settings,
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        command = [
            *self._command_prefix(),
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
        ]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            return _SPAWNER.popen(
                command,
                cwd=self.base_dir,
                env=self._child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: Ctrl-C in a terminal reaches us, not the server, so the
                # shutdown order stays ours.
                start_new_session=True,
            )

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> str:
        """Poll ``postmaster.pid`` until its status line says ``ready`` (what
        ``pg_ctl -w`` does); returns ``ready``, ``exited`` or ``timeout``."""
        assert self.data_dir
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        delay = 0.005
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return "exited"
            with contextlib.suppress(OSError):
                lines = pid_file.read_text(encoding="utf-8", errors="replace").splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return "ready"
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)
        return "timeout"

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL."""
        for sig, wait in (
            (signal.SIGINT, _SHUTDOWN_TIMEOUT_S),
            (signal.SIGQUIT, 3.0),
            (signal.SIGKILL, 3.0),
        ):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._postmaster_pid(process), sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=wait)
        # A fast or immediate shutdown returns once the postmaster's children have
        # exited; after SIGKILL they notice the postmaster's death on their own.

    def _postmaster_pid(self, process: subprocess.Popen[bytes]) -> int:
        """The postmaster itself: ``process`` unless a wrapper (runuser) stands between
        (then the pid in ``postmaster.pid``, but only if it is that wrapper's child)."""
        if self.data_dir is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                text = (self.data_dir / "postmaster.pid").read_text(encoding="utf-8")
                pid = int(text.splitlines()[0])
                if pid == process.pid:
                    return pid
                stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                if parent == process.pid:
                    return pid
        return process.pid


@contextlib.contextmanager
def ephemeral_server(
    bin_dir: Path | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[EphemeralServer]:
    """``with ephemeral_server() as server:`` — the same as ``with EphemeralServer()``."""
    with EphemeralServer(bin_dir, settings) as server:
        yield server
