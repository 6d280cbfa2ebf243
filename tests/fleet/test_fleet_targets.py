"""The targets file, shards and target names: pure, no database."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.errors import UsageError
from migrator.fleet.select import Shard, in_shard, parse_shard
from migrator.fleet.targets import Target, load_targets_file, with_database


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_targets_and_discover_entries_are_read_with_their_settings(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """
[[target]]
name = "billing"
url = "postgresql://app@db-1/billing"
lock-timeout = "2s"
ledger-schema = "ops"

[[target]]
name = "eu"
url-env = "EU_URL"

[[discover]]
url = "postgresql://app@db-2/postgres"
query = "SELECT datname FROM pg_database"
name-prefix = "db-2/"
lock-retries = 9
""",
    )
    found = load_targets_file(path, environ={"EU_URL": "postgresql://x@eu/app"})
    assert [t.name for t in found.targets] == ["billing", "eu"]
    assert found.targets[0].settings == {"lock_timeout": 2000, "ledger_schema": "ops"}
    assert found.targets[1].url == "postgresql://x@eu/app"
    (entry,) = found.discover
    assert entry.name_prefix == "db-2/"
    assert entry.settings == {"lock_retries": 9}


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """
[[target]]
name = "a"
url = "postgresql://h/a"
lock-timeout = "soon"

[[target]]
name = "a"
url = "postgresql://h/b"

[[target]]
url = "postgresql://h/c"

[[target]]
name = "d"
bogus = 1
url-env = "NOT_SET_ANYWHERE"

[[discover]]
url = "postgresql://h/postgres"
""",
    )
    with pytest.raises(UsageError) as caught:
        load_targets_file(path, environ={})
    problems = "\n".join(caught.value.problems)
    assert "invalid lock-timeout of target 1 ('a') 'soon'" in problems
    assert "target name 'a' is used more than once" in problems
    assert "target 3: missing name" in problems
    assert "unknown key 'bogus'" in problems
    assert "NOT_SET_ANYWHERE" in problems
    assert "discover 1: missing query" in problems
    assert len(caught.value.problems) == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not toml = [", "invalid TOML"),
        ("", "no [[target]] or [[discover]] entry"),
        ("target = 1", "target must be an array of tables"),
        ('[[target]]\nname = "a\\u0007b"\nurl = "postgresql://h/a"', "no control characters"),
    ],
)
def test_a_file_that_cannot_be_used_is_one_usage_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        load_targets_file(_file(tmp_path, text), environ={})
    assert expected in str(caught.value)


def test_a_missing_file_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_targets_file(tmp_path / "nope.toml")


def test_a_discovered_database_replaces_the_database_of_the_url() -> None:
    assert with_database("postgresql://u:p@h:5/postgres?sslmode=disable", "tenant 1") == (
        "postgresql://u:p@h:5/tenant%201?sslmode=disable"
    )
    assert with_database("host=h dbname=postgres", "it's") == (
        "host=h dbname=postgres dbname='it\\'s'"
    )


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2"])
def test_a_shard_outside_one_to_n_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=30), min_size=0, max_size=60, unique=True),
    count=st.integers(min_value=1, max_value=9),
)
def test_shards_cover_every_target_exactly_once(names: list[str], count: int) -> None:
    targets = [Target(name, f"postgresql://h/{i}") for i, name in enumerate(names)]
    taken = [
        target.name
        for index in range(1, count + 1)
        for target in in_shard(targets, Shard(index, count))
    ]
    assert sorted(taken) == sorted(names)


def test_a_shard_does_not_depend_on_the_order_or_on_other_targets() -> None:
    names = [f"tenant_{i:03d}" for i in range(50)]
    shard = parse_shard("2/3")
    alone = {name for name in names if shard.takes(name)}
    shuffled = [Target(name, "u") for name in reversed(names)] + [Target("new_one", "u")]
    assert {t.name for t in in_shard(shuffled, shard)} - {"new_one"} == alone
