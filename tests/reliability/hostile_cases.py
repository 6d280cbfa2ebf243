"""The hostile and broken inputs, one :class:`Case` each: what the case does to the
scene, the exit code every command must give, and a phrase the error line must hold.

Three shapes of case:

- directory problems (names, duplicates, unreadable or undecodable files, symlinks):
  every command refuses with exit 2 before it connects;
- file problems (:func:`broken_file`): the text goes into a pending migration *and*
  into the down file of the newest applied one, so ``up`` and ``down`` both meet it
  and refuse (exit 2); ``status`` and ``repair`` still work and show the changed down
  file as drift, ``verify`` fails on that drift (exit 1);
- configuration and connection problems: exit 2 (bad setting or URL) or 3 (cannot
  connect).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tests.reliability.hostile_scene import PASSWORD_IN_URL, Scene, fake_server, free_port

#: every command a case runs through (more are added when they are registered)
COMMANDS: dict[str, tuple[str, ...]] = {
    "up": ("up",),
    "up --sql": ("up", "--sql"),
    "down": ("down",),
    "status": ("status",),
    "verify": ("verify",),
    "repair": ("repair",),
    "dry-run": ("dry-run",),
    "lint": ("lint",),
    # {file}: the case's hostile file, else a harmless change (Scene.change_file)
    "plan": ("plan", "--print", "{file}"),
}
#: huge: over the 128 MiB limit of the source layer, written at test time (sparse
#: after its first MiB: the size alone refuses it)
HUGE_BYTES = 200 * 1024 * 1024


def codes(default: int, **overrides: int) -> dict[str, int]:
    """The exit code of every command: ``default`` unless overridden (``up_sql`` for
    ``up --sql``, ``dry_run`` for ``dry-run``)."""
    table = dict.fromkeys(COMMANDS, default)
    for key, code in overrides.items():
        table[key.replace("up_sql", "up --sql").replace("dry_run", "dry-run")] = code
    return table


@dataclass(frozen=True)
class Case:
    id: str
    prepare: Callable[[Scene], None]
    codes: Mapping[str, int]
    #: a phrase every failing command's error line holds
    says: str
    #: phrases of particular commands' error lines (by command)
    says_for: Mapping[str, str] = field(default_factory=dict)
    #: the commands that take the flags in ``flags`` (others run without them)
    flags: tuple[str, ...] = ()
    flag_commands: tuple[str, ...] = ()


def files(**named: str | bytes) -> Callable[[Scene], None]:
    """Write files (keyword = file name with ``__`` for ``.``)."""
    return lambda scene: scene.write(
        {name.replace("__", "."): data for name, data in named.items()}
    )


def write_files(mapping: Mapping[str, str | bytes]) -> Callable[[Scene], None]:
    return lambda scene: scene.write(mapping)


def broken_file(text: str | bytes) -> Callable[[Scene], None]:
    """``text`` as a pending migration's up file, as the applied 002's down file, and as
    the change given to ``plan``."""

    def prepare(scene: Scene) -> None:
        scene.write(
            {
                "003_hostile.up.sql": text,
                "003_hostile.down.sql": "SELECT 1;\n",
                "002_orders.down.sql": text,
            }
        )
        change = scene.workdir / "change.sql"  # and as the change `plan` is given
        change.write_bytes(text if isinstance(text, bytes) else text.encode())

    return prepare


#: a broken file: up and down refuse, status/repair show the drift, verify fails on it,
#: lint reports it as a finding; plan refuses the unusable change file (exit 2)
FILE_CODES = codes(2, status=0, verify=1, repair=0, lint=1, plan=2)
#: a directive problem: the planner does not read directives of the change it is given
DIRECTIVE_CODES = {**FILE_CODES, "plan": 0}


def environment(**values: str) -> Callable[[Scene], None]:
    return lambda scene: scene.env.update(values)


def url(make: Callable[[Scene], str]) -> Callable[[Scene], None]:
    def prepare(scene: Scene) -> None:
        scene.database_url = make(scene)

    return prepare


def _host_port(scene: Scene) -> tuple[str, str]:
    """``host:port`` and database of the scene's URL."""
    rest = scene.database_url.split("@", 1)[1]
    address, database = rest.split("/", 1)
    return address, database


def _url_with(**parts: str) -> Callable[[Scene], str]:
    def make(scene: Scene) -> str:
        address, database = _host_port(scene)
        scheme = parts.get("scheme", "postgresql")
        user = parts.get("user", "postgres")
        return (
            f"{scheme}://{user}:{PASSWORD_IN_URL}@{parts.get('address', address)}/"
            f"{parts.get('database', database)}"
        )

    return make


def _huge(scene: Scene) -> None:
    scene.in_subprocess = ("plan",)  # the planner read the whole file once: a time limit
    path = scene.directory / "003_huge.up.sql"
    line = b"INSERT INTO users VALUES (1, 'x');\n"
    chunk = line * (1024 * 1024 // len(line))
    with path.open("wb") as handle:
        handle.write(chunk)
        handle.truncate(HUGE_BYTES)
    (scene.directory / "003_huge.down.sql").write_text("SELECT 1;\n")


def _unreadable(scene: Scene) -> None:
    scene.write({"003_secret.up.sql": "SELECT 1;\n", "003_secret.down.sql": "SELECT 1;\n"})
    (scene.directory / "003_secret.up.sql").chmod(0)
    scene.without_root_override = True


def _symlink_out(scene: Scene) -> None:
    outside = scene.workdir / "outside.sql"
    outside.write_text("DROP TABLE users;\n")
    os.symlink(outside, scene.directory / "003_outside.up.sql")
    scene.write({"003_outside.down.sql": "SELECT 1;\n"})


def _symlink_dangling(scene: Scene) -> None:
    os.symlink(scene.directory / "nowhere.sql", scene.directory / "003_gone.up.sql")
    scene.write({"003_gone.down.sql": "SELECT 1;\n"})


def _directory_named_like_a_migration(scene: Scene) -> None:
    (scene.directory / "003_folder.up.sql").mkdir()
    scene.write({"003_folder.down.sql": "SELECT 1;\n"})


def _fifo_named_like_a_migration(scene: Scene) -> None:
    """A named pipe nobody writes to: opening it to read would wait forever."""
    os.mkfifo(scene.directory / "003_pipe.up.sql")
    scene.write({"003_pipe.down.sql": "SELECT 1;\n"})


def _socket_named_like_a_migration(scene: Scene) -> None:
    listener = socket.socket(socket.AF_UNIX)
    scene.resources.callback(listener.close)
    listener.bind(str(scene.directory / "003_socket.up.sql"))
    scene.write({"003_socket.down.sql": "SELECT 1;\n"})


def _missing_directory(scene: Scene) -> None:
    scene.directory = scene.directory.parent / "no-such-directory"


def _directory_is_a_file(scene: Scene) -> None:
    target = scene.workdir / "migrations.txt"
    target.write_text("not a directory\n")
    scene.directory = target


#: directory problems: every command that runs migrations refuses; lint reports them
#: as findings; plan --print plans the change it is given and writes nothing
DIRECTORY = codes(2, lint=1, plan=0)


def _served_by(reply: bytes | None) -> Callable[[Scene], None]:
    """The URL points at a TCP server that is not PostgreSQL."""

    def prepare(scene: Scene) -> None:
        port = scene.resources.enter_context(fake_server(reply))
        scene.database_url = _url_with(address=f"127.0.0.1:{port}")(scene)
        scene.env["MIGRATOR_CONNECT_TIMEOUT"] = "500ms"

    return prepare


def _nothing_listening(scene: Scene) -> None:
    scene.database_url = _url_with(address=f"127.0.0.1:{free_port()}")(scene)


def _wrong_password(scene: Scene) -> None:
    scene.database_url = scene.wrong_password_url


def _wrong_pgpassword(scene: Scene) -> None:
    """No password in the URL; a wrong one in PGPASSWORD."""
    user_and_password, rest = scene.wrong_password_url.split("://", 1)[1].split("@", 1)
    scene.database_url = f"postgresql://{user_and_password.split(':')[0]}@{rest}"
    scene.env["PGPASSWORD"] = user_and_password.split(":", 1)[1]


# fmt: off
def _cases() -> list[Case]:
    no_plan = {"plan": 2}  # the planner refuses a change file it cannot read
    return [
        # -- names ---------------------------------------------------------------------
        Case("name-with-dash", files(**{"003-orders__up__sql": "SELECT 1;\n"}), DIRECTORY,
             "003-orders.up.sql: name does not parse"),
        Case("name-without-version", files(orders__up__sql="SELECT 1;\n"), DIRECTORY,
             "orders.up.sql: name does not parse"),
        Case("duplicate-version",
             files(**{"002_again__up__sql": "SELECT 1;\n", "002_again__down__sql": "SELECT 1;\n"}),
             DIRECTORY, "version 2 is used by more than one migration"),
        Case("duplicate-version-other-width", files(**{"2_same__sql": "SELECT 1;\n"}),
             DIRECTORY, "version 2 is used by more than one migration"),
        Case("orphan-down", files(**{"003_orphan__down__sql": "SELECT 1;\n"}), DIRECTORY,
             "003_orphan.down.sql: down migration has no up migration"),
        Case("down-name-mismatch",
             files(**{"003_a__up__sql": "SELECT 1;\n", "003_b__down__sql": "SELECT 1;\n"}),
             DIRECTORY, "003_b.down.sql: down migration's name does not match 003_a.up.sql"),
        # -- file contents the source layer cannot use -----------------------------------
        # empty and whitespace-only files are no-ops: tests/reliability/test_hostile_files.py
        Case("binary-file",
             files(**{"003_blob__up__sql": bytes(range(256)) * 8,
                      "003_blob__down__sql": "SELECT 1;\n"}),
             {**DIRECTORY, **no_plan}, "003_blob.up.sql: not UTF-8"),
        Case("latin-1-file",
             files(**{"003_latin__up__sql": "-- café\nSELECT 1;\n".encode("latin-1"),
                      "003_latin__down__sql": "SELECT 1;\n"}),
             {**DIRECTORY, **no_plan}, "003_latin.up.sql: not UTF-8"),
        Case("utf-16-file",
             files(**{"003_wide__up__sql": "SELECT 1;\n".encode("utf-16"),
                      "003_wide__down__sql": "SELECT 1;\n"}),
             {**DIRECTORY, **no_plan}, "003_wide.up.sql: not UTF-8"),
        Case("huge-file", _huge, {**DIRECTORY, **no_plan},
             "003_huge.up.sql: 200 MiB is too large for a migration (limit 128 MiB)",
             says_for={"plan": "003_huge.up.sql"}),
        Case("unreadable-file", _unreadable, {**DIRECTORY, **no_plan},
             "003_secret.up.sql: permission denied",
             says_for={"plan": "003_secret.up.sql"}),
        # plan reads the file the link names (DROP TABLE users, which orders references)
        Case("symlink-leaving-the-directory", _symlink_out, {**DIRECTORY, "plan": 1},
             "003_outside.up.sql: symlink points outside the migrations directory",
             says_for={"plan": "table users is referenced by foreign keys"}),
        Case("dangling-symlink", _symlink_dangling, {**DIRECTORY, **no_plan},
             "003_gone.up.sql: cannot read (No such file or directory)",
             says_for={"plan": "003_gone.up.sql: no such file"}),
        Case("directory-named-like-a-migration", _directory_named_like_a_migration,
             {**DIRECTORY, **no_plan}, "003_folder.up.sql: is a directory",
             says_for={"plan": "003_folder.up.sql"}),
        Case("named-pipe-named-like-a-migration", _fifo_named_like_a_migration,
             {**DIRECTORY, **no_plan}, "003_pipe.up.sql: is a named pipe, not a regular file",
             says_for={"plan": "003_pipe.up.sql"}),
        Case("socket-named-like-a-migration", _socket_named_like_a_migration,
             {**DIRECTORY, **no_plan}, "003_socket.up.sql: is a socket, not a regular file",
             says_for={"plan": "003_socket.up.sql"}),
        Case("missing-migrations-directory", _missing_directory,
             {**DIRECTORY, "lint": 2}, "no-such-directory does not exist",
             says_for={"lint": "no-such-directory: no such file or directory"}),
        # lint refuses it too (hostile O12): it linted the file as SQL
        Case("migrations-path-is-a-file", _directory_is_a_file,
             {**DIRECTORY, **no_plan, "lint": 2}, "migrations.txt is not a directory"),
        # -- SQL and directives --------------------------------------------------------------
        Case("syntax-error", broken_file("CREATE TABEL things (id int);\n"), FILE_CODES,
             'syntax error at or near "TABEL"'),
        Case("unterminated-dollar-quote",
             broken_file("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1;\n"), FILE_CODES,
             "unterminated dollar-quoted string"),
        # a NUL byte makes a file binary, like bad UTF-8: every command refuses it
        Case("nul-byte", broken_file("SELECT 1;\x00\nDROP TABLE users;\n"),
             {**DIRECTORY, **no_plan}, "003_hostile.up.sql:1: contains a NUL byte",
             says_for={"plan": "change.sql:1: contains a NUL byte"}),
        Case("psql-meta-command", broken_file("SELECT 1;\n\\i other.sql\n"), FILE_CODES,
             "psql meta-command \\i is not SQL", says_for={"plan": 'syntax error at or near "\\"'}),
        Case("copy-from-stdin", broken_file("COPY users (id, email) FROM stdin;\n1\ta\n\\.\n"),
             FILE_CODES, "COPY ... FROM stdin needs psql",
             says_for={"plan": 'syntax error at or near "1"'}),
        Case("unknown-directive", broken_file("-- migrate:no-transactoin\nSELECT 1;\n"),
             DIRECTIVE_CODES, "unknown directive -- migrate:no-transactoin"),
        Case("directive-with-stray-argument",
             broken_file("-- migrate:no-transaction please\nSELECT 1;\n"), DIRECTIVE_CODES,
             "-- migrate:no-transaction takes no argument"),
        Case("directive-after-first-statement",
             broken_file("SELECT 1;\n-- migrate:lock-timeout 1s\nSELECT 2;\n"), DIRECTIVE_CODES,
             "-- migrate:lock-timeout must stand before the first statement"),
        Case("invalid-duration-directive",
             broken_file("-- migrate:lock-timeout 5 parsecs\nSELECT 1;\n"), DIRECTIVE_CODES,
             "-- migrate:lock-timeout"),
        # PostgreSQL's timeouts are an int of ms: refused before the run, not by the server
        Case("timeout-beyond-postgresql-directive",
             broken_file("-- migrate:lock-timeout 9999h\nSELECT 1;\n"), DIRECTIVE_CODES,
             "PostgreSQL's timeouts stop at 2147483647 ms"),
        # P1: a duration of 400 digits was infinity as a float: exit 70 everywhere
        Case("duration-of-400-digits-directive",
             broken_file(f"-- migrate:lock-timeout {'9' * 400}s\nSELECT 1;\n"),
             DIRECTIVE_CODES, "longer than any duration migrate takes"),
        # P2: a batch beyond a bigint passed lint and failed the run (exit 4, ledger failed)
        Case("backfill-batch-beyond-bigint",
             broken_file(f"-- migrate:backfill table=users key=id batch-size={2**63}\n"
                         "UPDATE users SET email = email WHERE id BETWEEN $1 AND $2;\n"),
             {**DIRECTIVE_CODES, "dry-run": 1},
             "is not a whole number from 1 to 9223372036854775807",
             # P3: the same directive in a down file ran unbatched ($1 has no value, exit 4)
             says_for={"down": "-- migrate:backfill runs only in an up file",
                       "dry-run": "dry-run failed"}),
        Case("concurrently-inside-a-transaction",
             broken_file("CREATE INDEX CONCURRENTLY users_email ON users (email);\n"
                         "ANALYZE users;\n"),
             DIRECTIVE_CODES, "add `-- migrate:no-transaction` at the top of the file",
             says_for={"lint": "[concurrently-in-transaction]"}),
        Case("transaction-control-inside-a-transaction",
             broken_file("BEGIN;\nCREATE TABLE t (id int);\nROLLBACK;\n"), FILE_CODES,
             "inside a migration that runs in a transaction",
             says_for={"plan": "BEGIN in the change file", "lint": "[transaction-control]"}),
        # -- configuration -----------------------------------------------------------------
        Case("invalid-duration-flag", lambda scene: None,
             {**codes(0), "up": 2, "up --sql": 2, "down": 2}, "--lock-timeout",
             flags=("--lock-timeout", "5 parsecs"), flag_commands=("up", "up --sql", "down")),
        Case("invalid-duration-env", environment(MIGRATOR_LOCK_TIMEOUT="-1s"), codes(2),
             "MIGRATOR_LOCK_TIMEOUT"),
        Case("timeout-beyond-postgresql-flag", lambda scene: None,
             {**codes(0), "up": 2, "up --sql": 2, "down": 2},
             "PostgreSQL's timeouts stop at 2147483647 ms",
             flags=("--lock-timeout", "99999999h"), flag_commands=("up", "up --sql", "down")),
        Case("lock-wait-beyond-postgresql-env", environment(MIGRATOR_LOCK_WAIT="9999h"),
             codes(2), "invalid MIGRATOR_LOCK_WAIT '9999h'"),
        Case("duration-of-400-digits-env", environment(MIGRATOR_WAIT="9" * 400), codes(2),
             "invalid MIGRATOR_WAIT"),
        Case("invalid-duration-pyproject",
             lambda scene: scene.pyproject('[tool.migrator]\nlock-wait = "soon"\n'), codes(2),
             "lock-wait"),
        Case("ledger-table-injection-env",
             environment(MIGRATOR_LEDGER_TABLE='x"; drop table users; --'), codes(2),
             "invalid MIGRATOR_LEDGER_TABLE"),
        Case("ledger-table-injection-pyproject",
             lambda scene: scene.pyproject(
                 "[tool.migrator]\nledger-table = 'x\"; drop table users; --'\n"),
             codes(2), "invalid ledger-table"),
        Case("ledger-schema-injection-env",
             environment(MIGRATOR_LEDGER_SCHEMA="public; DROP TABLE users"), codes(2),
             "invalid MIGRATOR_LEDGER_SCHEMA"),
        Case("broken-pyproject", lambda scene: scene.pyproject("[tool.migrator\nlock-wait = 1\n"),
             codes(2), "fix the file's TOML syntax"),
        # -- connection targets (the planner never connects) -----------------------------------
        Case("dsn-scheme-typo", url(_url_with(scheme="postgresq")), codes(2, plan=0),
             "postgresq://postgres:***@"),
        Case("dsn-port-typo", url(_url_with(address="127.0.0.1:54x32")), codes(2, plan=0),
             "127.0.0.1:54x32/"),
        Case("dsn-unknown-host", url(_url_with(address="no-such-host.invalid:5432")),
             codes(3, plan=0), "no-such-host.invalid"),
        Case("missing-database", url(_url_with(database="no_such_database")), codes(3, plan=0),
             "database 'no_such_database' does not exist"),
        Case("nothing-listening", _nothing_listening, codes(3, plan=0), "127.0.0.1"),
        Case("http-server", _served_by(b"HTTP/1.1 400 Bad Request\r\n\r\n"), codes(3, plan=0),
             "does not speak the PostgreSQL protocol"),
        Case("garbage-server", _served_by(bytes(range(7, 200)) * 4), codes(3, plan=0),
             "does not speak the PostgreSQL protocol"),
        Case("silent-server", _served_by(None), codes(3, plan=0),
             "no answer from 127.0.0.1", says_for={"dry-run": "within 0.5s"}),
        Case("wrong-password", _wrong_password, codes(3, plan=0),
             "password authentication failed"),
        Case("wrong-pgpassword", _wrong_pgpassword, codes(3, plan=0),
             "password authentication failed"),
    ]
# fmt: on


CASES = _cases()
