"""Durations, DSN masking and the exit-code contract."""

from __future__ import annotations

import pytest

from migrator.dsn import mask_dsn, scrub
from migrator.durations import format_ms, parse_duration_ms
from migrator.errors import (
    ChecksFailed,
    ConnectionFailed,
    ExitCode,
    LockNotAcquired,
    MigrationFailed,
    SourceError,
    UsageError,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("5s", 5000),
        ("5", 5000),
        ("1.5s", 1500),
        ("2min", 120_000),
        ("1h", 3_600_000),
        ("0", 0),
        (" 3 s ", 3000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "soon", "-1s", "5 parsecs", "1e3", "s"])
def test_invalid_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_duration_ms(text, what="lock timeout")
    assert "lock timeout" in raised.value.one_line()


def test_format_ms() -> None:
    assert (format_ms(5000), format_ms(250)) == ("5s", "250ms")


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://app:s3cret@db.example:5432/prod",
        "postgres://app:s3cret@db/prod?sslmode=require",
        "postgresql://app@db/prod?password=s3cret&sslmode=disable",
        "host=db user=app password=s3cret dbname=prod",
        "host=db password='s3cret' dbname=prod",
    ],
)
def test_mask_dsn_never_leaves_the_password(dsn: str) -> None:
    masked = mask_dsn(dsn)
    assert "s3cret" not in masked
    assert "***" in masked


def test_mask_dsn_keeps_everything_else() -> None:
    assert mask_dsn("postgresql://app:pw@db:5432/prod") == "postgresql://app:***@db:5432/prod"
    assert mask_dsn("postgresql://app@db/prod") == "postgresql://app@db/prod"


def test_scrub_removes_known_secrets() -> None:
    assert scrub("password s3cret rejected", ["s3cret"]) == "password *** rejected"


def test_exit_codes_are_distinct_and_documented() -> None:
    assert {int(code) for code in ExitCode} == {0, 1, 2, 3, 4, 70, 130}
    assert SourceError(["x"]).exit_code == ExitCode.USAGE
    assert ConnectionFailed("x").exit_code == LockNotAcquired("x").exit_code == 3
    assert MigrationFailed("x").exit_code == 4
    assert ChecksFailed("x").exit_code == 1
