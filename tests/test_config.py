"""Settings: flags > environment > [tool.migrator] > defaults, parsed once, documented
in docs/configuration.md from the same declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config import OPTIONS, Settings, load_settings, options_reference
from migrator.errors import UsageError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def _pyproject(directory: Path, table: str) -> Path:
    (directory / "pyproject.toml").write_text(f"[tool.migrator]\n{table}\n")
    return directory


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, environ={}, cwd=tmp_path)

    assert settings.migrations_dir == tmp_path / "database/migrations"
    assert (settings.lock_timeout, settings.statement_timeout) == (5000, 0)
    assert (settings.lock_retries, settings.retry_delay, settings.retry_max_delay) == (
        5,
        500,
        10_000,
    )
    assert (settings.lock_wait, settings.connect_timeout) == (60_000, 10_000)
    assert (settings.ledger_schema, settings.ledger_table) == ("public", "migrator_ledger")
    assert set(settings.origins.values()) == {"default"}


def test_precedence_flag_over_env_over_pyproject(tmp_path: Path) -> None:
    _pyproject(tmp_path, 'lock-timeout = "3s"\nlock-retries = 2\nlock-wait = "9s"')
    env = {"MIGRATOR_LOCK_TIMEOUT": "750ms", "MIGRATOR_LOCK_RETRIES": "7"}

    settings = load_settings({"lock_timeout": "1s"}, environ=env, cwd=tmp_path)

    assert settings.lock_timeout == 1000 and settings.origins["lock_timeout"] == "flag"
    assert settings.lock_retries == 7 and settings.origins["lock_retries"] == "env"
    assert settings.lock_wait == 9000 and settings.origins["lock_wait"] == "pyproject.toml"


def test_migrations_dir_from_pyproject_is_relative_to_it(tmp_path: Path) -> None:
    _pyproject(tmp_path, 'migrations-dir = "db/migrations"')
    nested = tmp_path / "src" / "app"
    nested.mkdir(parents=True)

    settings = load_settings({}, environ={}, cwd=nested)

    assert settings.migrations_dir == tmp_path / "db" / "migrations"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('lock-timout = "1s"', "unknown key(s) in [tool.migrator]: lock-timout"),
        ('lock-timeout = "fast"', "invalid lock-timeout"),
        ("lock-retries = -1", "invalid lock-retries"),
        ('ledger-table = "a b"', "invalid ledger-table"),
        (f'ledger-table = "{"l" * 56}"', "longer than 55 characters"),
        ("lock-retries = 2.5", "invalid lock-retries"),
        ("lock-retries = true", "invalid lock-retries"),
        ('strict = "maybe"', "invalid strict"),
    ],
)
def test_bad_configuration_is_a_usage_error_naming_the_key(
    tmp_path: Path, table: str, message: str
) -> None:
    _pyproject(tmp_path, table)

    with pytest.raises(UsageError) as error:
        load_settings({}, environ={}, cwd=tmp_path)

    assert message in error.value.one_line()


def test_every_option_is_a_settings_field_with_the_same_default() -> None:
    for declared in OPTIONS:
        if declared.name == "migrations_dir":
            continue
        assert Settings.__dataclass_fields__[declared.name].default == declared.default


def test_configuration_docs_hold_the_generated_table() -> None:
    text = DOCS.read_text()

    assert options_reference() in text, "regenerate with migrator.config.options_reference()"
    for declared in OPTIONS:
        assert f"`{declared.key}`" in text and f"`{declared.env}`" in text


@pytest.mark.parametrize("source", ["flag", "pyproject"])
def test_an_empty_migrations_dir_is_refused_not_read_as_the_current_directory(
    tmp_path: Path, source: str
) -> None:
    flags = {"migrations_dir": ""} if source == "flag" else {}
    if source == "pyproject":
        _pyproject(tmp_path, 'migrations-dir = ""')

    with pytest.raises(UsageError) as error:
        load_settings(flags, environ={}, cwd=tmp_path)

    named = "--dir" if source == "flag" else "migrations-dir in"
    assert f"{named}" in error.value.one_line() and "is empty" in error.value.one_line()
