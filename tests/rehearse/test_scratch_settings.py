"""Database settings copied onto a copy of a template (CREATE DATABASE ... TEMPLATE
copies none): each stored ``name=value`` becomes the statement that sets it again."""

from __future__ import annotations

import pytest

from migrator.rehearse.scratch import setting_statement


@pytest.mark.parametrize(
    ("role", "config", "statement"),
    [
        (None, "timezone=Asia/Tokyo", """ALTER DATABASE "d" SET "timezone" TO 'Asia/Tokyo'"""),
        (None, "DateStyle=SQL, DMY", """ALTER DATABASE "d" SET "DateStyle" TO 'SQL, DMY'"""),
        (
            None,
            'search_path=app, "$user", "My ""Schema"""',
            """ALTER DATABASE "d" SET "search_path" TO 'app', '$user', 'My "Schema"'""",
        ),
        (None, 'search_path=""', """ALTER DATABASE "d" SET "search_path" TO ''"""),
        (
            "app",
            "app.tenant=it's",
            """ALTER ROLE "app" IN DATABASE "d" SET "app.tenant" TO 'it''s'""",
        ),
    ],
)
def test_a_stored_setting_is_set_again_as_it_was(
    role: str | None, config: str, statement: str
) -> None:
    assert setting_statement("d", role, config) == statement
