"""The lint cache (migrator/lint/cache.py): a warm run gives exactly what a cold run
gives, lints only what changed, and a broken, unwritable or foreign cache changes
nothing but speed. Each test has a cache folder of its own (MIGRATOR_CACHE_DIR,
tests/conftest.py)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import migrator.lint.engine as engine
import migrator.lint.targets as targets
from tests.helpers import Result, run_cli
from tests.helpers_db import write_migrations

FILES = {
    "001_users.up.sql": "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    "001_users.down.sql": "DROP TABLE users;\n",
    "002_index.up.sql": "CREATE INDEX users_email ON users (email);\n",
    "002_index.down.sql": "DROP INDEX users_email;\n",
    "003_column.up.sql": "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;\n"
    "ALTER TABLE users ALTER COLUMN id TYPE bigint;\n",
    "003_column.down.sql": "ALTER TABLE users DROP COLUMN age;\n",
}


class Counter:
    """Counts the files linted and replayed, through the engine's own entry points."""

    def __init__(self) -> None:
        self.linted: list[str] = []
        self.replayed: list[str] = []


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    seen = Counter()
    lint, replay = engine.FileLinter.lint, targets.replay

    def counting_lint(self, file, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.linted.append(file.path.name)
        return lint(self, file, *args, **kwargs)

    def counting_replay(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.replayed.append(file.path.name)
        return replay(file, *args, **kwargs)

    monkeypatch.setattr(engine.FileLinter, "lint", counting_lint)
    monkeypatch.setattr(targets, "replay", counting_replay)
    yield seen


def _lint(tmp_path: Path, *args: str) -> Result:
    return run_cli("--dir", "m", "lint", "--format", "json", *args, cwd=tmp_path)


def _cache_dir() -> Path:
    return Path(os.environ["MIGRATOR_CACHE_DIR"])


def test_a_warm_run_reports_the_same_and_lints_nothing(tmp_path: Path, counter: Counter) -> None:
    write_migrations(tmp_path / "m", FILES)
    cold = _lint(tmp_path)
    assert cold.code == 1 and '"rule"' in cold.output
    assert len(counter.linted) == 6
    counter.linted.clear()

    warm = _lint(tmp_path)

    assert (warm.code, warm.output) == (cold.code, cold.output)
    assert counter.linted == [] and counter.replayed == []
    assert (_cache_dir() / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (_cache_dir() / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d1")


def test_a_new_migration_is_the_only_file_linted_and_nothing_is_replayed(
    tmp_path: Path, counter: Counter
) -> None:
    write_migrations(tmp_path / "m", FILES)
    _lint(tmp_path)
    write_migrations(
        tmp_path / "m", {"004_more.up.sql": "ALTER TABLE users ADD COLUMN nick text;\n"}
    )
    counter.linted.clear()

    warm = _lint(tmp_path)

    assert counter.linted == ["004_more.up.sql"] and counter.replayed == []
    assert warm.output == _lint(tmp_path, "--no-cache").output


def test_editing_the_newest_file_alone_replays_the_others_once(
    tmp_path: Path, counter: Counter
) -> None:
    write_migrations(tmp_path / "m", FILES)
    newest = tmp_path / "m" / "003_column.up.sql"
    assert _lint(tmp_path, "m/003_column.up.sql").code == 1
    assert counter.replayed == ["001_users.up.sql", "002_index.up.sql"]
    counter.replayed.clear()

    newest.write_text("ALTER TABLE users ADD COLUMN age int;\n")
    edited = _lint(tmp_path, "m/003_column.up.sql")

    assert counter.replayed == []  # the schema before the newest file was kept
    assert edited.output == _lint(tmp_path, "m/003_column.up.sql", "--no-cache").output


def test_changing_an_earlier_file_or_an_option_lints_again(
    tmp_path: Path, counter: Counter
) -> None:
    write_migrations(tmp_path / "m", FILES)
    _lint(tmp_path)
    counter.linted.clear()

    (tmp_path / "m" / "001_users.up.sql").write_text(
        "CREATE TABLE users (id bigint, email text);\n"
    )
    changed = _lint(tmp_path)
    assert len(counter.linted) == 6  # every file after a changed up file
    assert changed.output == _lint(tmp_path, "--no-cache").output
    counter.linted.clear()

    other = _lint(tmp_path, "--pg-version", "10")
    assert len(counter.linted) == 6
    assert other.output == _lint(tmp_path, "--pg-version", "10", "--no-cache").output


def test_warm_runs_match_cold_runs_through_random_edits(tmp_path: Path) -> None:
    """Whatever sequence of edits, additions and removals: cached output equals the
    output of a run without the cache."""
    rng = random.Random(20261123)
    statements = [
        "CREATE TABLE t{n} (id int, v text)",
        "ALTER TABLE t{n} ADD COLUMN c{k} int",
        "ALTER TABLE t{n} ALTER COLUMN v SET NOT NULL",
        "CREATE INDEX i{k} ON t{n} (id)",
        "ALTER TABLE t{n} ADD CONSTRAINT u{k} UNIQUE (id)",
        "DROP TABLE IF EXISTS t{n}",
        "UPDATE t{n} SET v = 'x'",
    ]
    directory = tmp_path / "m"
    directory.mkdir()
    for step in range(12):
        number = rng.randint(1, 6)
        path = directory / f"{number:03d}_m{number}.up.sql"
        if path.exists() and rng.random() < 0.2:
            path.unlink()
        else:
            body = ";\n".join(
                rng.choice(statements).format(n=rng.randint(1, 3), k=rng.randint(1, 99))
                for _ in range(rng.randint(1, 4))
            )
            path.write_text(body + ";\n")
        if not any(directory.iterdir()):
            continue
        warm, cold = _lint(tmp_path), _lint(tmp_path, "--no-cache")
        assert (warm.code, warm.output) == (cold.code, cold.output), f"after step {step}"


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    write_migrations(tmp_path / "m", FILES)
    cold = _lint(tmp_path)
    stored = [path for path in (_cache_dir() / "lint").rglob("*.pickle")]
    assert len(stored) > 3
    for path in stored:
        path.write_bytes(b"not a pickle")

    assert _lint(tmp_path).output == cold.output
    assert _lint(tmp_path).output == cold.output  # and the rewritten cache is good


def test_an_unwritable_cache_folder_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_migrations(tmp_path / "m", FILES)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MIGRATOR_CACHE_DIR", str(blocker / "cache"))  # below a file

    result = _lint(tmp_path)

    assert result.code == 1 and result.stderr == ""
    assert result.output == _lint(tmp_path, "--no-cache").output


def test_no_cache_writes_nothing(tmp_path: Path) -> None:
    write_migrations(tmp_path / "m", FILES)

    _lint(tmp_path, "--no-cache")

    assert not _cache_dir().exists()


def test_a_changed_earlier_file_that_is_only_replayed_is_not_served_stale(
    tmp_path: Path,
) -> None:
    """Linting one file replays the ones before it without linting them: a change to
    one of those must reach the schema the file is judged against."""
    write_migrations(
        tmp_path / "m",
        {
            "001_users.up.sql": "CREATE TABLE users (id int, email text);\n",
            "002_other.up.sql": "SELECT 1;\n",
            "003_not_null.up.sql": "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
        },
    )
    flagged = _lint(tmp_path, "m/003_not_null.up.sql")
    assert "set-not-null" in flagged.output
    (tmp_path / "m" / "001_users.up.sql").write_text(
        "CREATE TABLE users (id int, email text, CONSTRAINT email_nn CHECK (email IS NOT NULL));\n"
    )

    backed = _lint(tmp_path, "m/003_not_null.up.sql")

    assert "set-not-null" not in backed.output  # the CHECK makes SET NOT NULL cheap
    assert backed.output == _lint(tmp_path, "m/003_not_null.up.sql", "--no-cache").output


def test_a_file_that_is_no_migration_is_cached_too(tmp_path: Path, counter: Counter) -> None:
    loose = tmp_path / "loose.sql"
    loose.write_text("CREATE INDEX i ON users (email);\nALTER TABLE users ADD COLUMN a int;\n")
    cold = run_cli("lint", "--format", "json", str(loose), cwd=tmp_path)
    assert counter.linted == ["loose.sql"]

    warm = run_cli("lint", "--format", "json", str(loose), cwd=tmp_path)
    loose.write_text("CREATE INDEX i ON users (email);\n")
    edited = run_cli("lint", "--format", "json", str(loose), cwd=tmp_path)

    assert warm.output == cold.output and counter.linted == ["loose.sql", "loose.sql"]
    assert (
        edited.output
        == run_cli("lint", "--no-cache", "--format", "json", str(loose), cwd=tmp_path).output
    )


def test_cache_files_owned_by_someone_else_are_never_loaded(
    tmp_path: Path, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_migrations(tmp_path / "m", FILES)
    cold = _lint(tmp_path)
    counter.linted.clear()
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)  # the files now belong to another

    again = _lint(tmp_path)

    assert len(counter.linted) == 6 and again.output == cold.output


def test_the_default_cache_is_in_the_users_cache_directory(tmp_path: Path) -> None:
    from migrator.lint.cache import cache_root

    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "migrator"
    assert cache_root({"MIGRATOR_CACHE_DIR": "/somewhere"}) == Path("/somewhere")
    assert cache_root({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "migrator"


def test_editing_an_earlier_file_lints_only_it_and_what_follows(
    tmp_path: Path, counter: Counter
) -> None:
    write_migrations(tmp_path / "m", FILES)
    _lint(tmp_path)
    counter.linted.clear()
    counter.replayed.clear()

    (tmp_path / "m" / "002_index.up.sql").write_text("CREATE INDEX users_id ON users (id);\n")
    edited = _lint(tmp_path)

    # 001 is only replayed (its findings come from the cache); 002 and 003 are linted
    assert counter.replayed == ["001_users.up.sql"]
    assert counter.linted == [
        "002_index.up.sql",
        "002_index.down.sql",
        "003_column.up.sql",
        "003_column.down.sql",
    ]
    assert edited.output == _lint(tmp_path, "--no-cache").output


class _Planted:
    """What a pull request could commit as a cache file: loading it runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def test_a_cache_folder_inside_the_checkout_is_refused_before_anything_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from migrator.lint.cache import LintCache

    checkout = tmp_path / "repo"
    (checkout / ".git").mkdir(parents=True)
    write_migrations(checkout / "m", FILES)
    planted = checkout / ".cache"
    monkeypatch.setenv("MIGRATOR_CACHE_DIR", str(planted))
    marker = tmp_path / "pwned"
    planted.mkdir()
    (planted / "planted.pickle").write_bytes(pickle.dumps(_Planted(marker)))
    # whatever key the run looks up, it finds the planted file (a PR can compute keys)
    monkeypatch.setattr(LintCache, "_entry_path", lambda self, key: planted / "planted.pickle")
    monkeypatch.setattr(LintCache, "_snapshot_path", lambda self, key: planted / "planted.pickle")

    result = run_cli("--dir", "m", "lint", cwd=checkout)

    assert result.code == 2, result.output
    assert "inside the git working tree" in result.output and "MIGRATOR_CACHE_DIR" in result.output
    assert str(checkout) in result.output and "Traceback" not in result.output
    assert not marker.exists()
    # a cache folder outside the checkout is used as before
    monkeypatch.undo()
    monkeypatch.setenv("MIGRATOR_CACHE_DIR", str(tmp_path / "outside"))
    assert run_cli("--dir", "m", "lint", cwd=checkout).code != 2
    assert (tmp_path / "outside" / "lint" / "entries").is_dir()
