"""A batched ``UPDATE`` that sets a column of a unique key other than the walked one is
refused (brief item 2): the batches commit one by one, and a value moved onto one that
a row of a later batch still holds fails (23505) after the earlier batches committed
(``UPDATE items SET code = code || 'x'`` where row 90 holds 'k80x': batches 1..64
committed, then 23505; the one statement fails and changes nothing). The rows check
before the batches proves only the end state unique. A check that no row's new value
equals another row's current value would fail the plan at run time where the one
statement succeeds too, when its scan happens to reach the row moving away first: so
the refusal is made at plan time, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE items (id serial PRIMARY KEY, code text NOT NULL UNIQUE, v int, w int);\n"
    "CREATE TABLE tags (id bigint PRIMARY KEY, label text, slot int, n int);\n"
    "CREATE UNIQUE INDEX tags_lower_label_idx ON tags (lower(label));\n"
    "CREATE UNIQUE INDEX tags_slot_idx ON tags (n) WHERE slot > 0;\n"
    "CREATE TABLE pairs (id int PRIMARY KEY, a int, b int, v int,\n"
    "  CONSTRAINT pairs_a_b_key UNIQUE (a, b) DEFERRABLE INITIALLY DEFERRED);\n"
)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("UPDATE items SET code = code || 'x'", "items_code_key"),
        ("UPDATE items SET v = 1, code = upper(code) WHERE v > 3", "items_code_key"),
        ("UPDATE tags SET label = label || '!'", "tags_lower_label_idx"),  # an expression
        ("UPDATE tags SET n = n + 1 WHERE slot = 2", "tags_slot_idx"),  # part of the rows
        ("UPDATE tags SET slot = 1 WHERE n < 5", "tags_slot_idx"),  # rows enter the index
        ("UPDATE pairs SET b = a, a = b", "pairs_a_b_key"),  # deferred: checked per batch
        (  # a unique key the file adds first
            "CREATE UNIQUE INDEX items_w_key ON items (w);\nUPDATE items SET w = 7 WHERE id < 5",
            "items_w_key",
        ),
    ],
)
def test_an_update_of_a_unique_column_is_refused(tmp_path: Path, change: str, key: str) -> None:
    with pytest.raises(CannotPlan, match=f"a column of the unique key {key} of"):
        Project.create(tmp_path, BASE).plan(change + ";\n")


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE items SET v = length(code), w = 2",
        "UPDATE items SET w = v WHERE code LIKE 'a%'",  # reads the key, sets none
        "UPDATE pairs SET v = a + b",
    ],
)
def test_an_update_of_other_columns_is_batched(tmp_path: Path, change: str) -> None:
    result = Project.create(tmp_path, BASE).plan(change + ";\n")
    assert any("migrate:backfill" in f.text for f in result.files)


#: finding F-hostile-11: pocket-id's "empty string -> NULL" cleanup after a unique index
NULLABLE = (
    "CREATE TABLE users (id serial PRIMARY KEY, ldap_id text, email text, o int);\n"
    "CREATE UNIQUE INDEX users_ldap_id ON users (ldap_id);\n"
    "CREATE UNIQUE INDEX users_email_key ON users (email) NULLS NOT DISTINCT;\n"
    "CREATE UNIQUE INDEX users_lower_ldap_id ON users (coalesce(ldap_id, ''), o);\n"
    "CREATE TABLE groups (id serial PRIMARY KEY, ldap_id text, n int,\n"
    "  CONSTRAINT groups_ldap_id_key UNIQUE (ldap_id, n));\n"
)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE groups SET ldap_id = NULL WHERE ldap_id = ''",
        "UPDATE groups SET ldap_id = NULL::text, n = NULL WHERE ldap_id = ''",
    ],
)
def test_setting_a_unique_column_to_null_is_batched(tmp_path: Path, change: str) -> None:
    """A NULL never conflicts where NULLs are distinct (the default)."""
    result = Project.create(tmp_path, NULLABLE).plan(change + ";\n")
    assert [c.recipe for c in result.plan.changes][-1] == "batched backfill"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("UPDATE users SET email = NULL WHERE email = ''", "users_email_key"),  # NOT DISTINCT
        ("UPDATE users SET ldap_id = NULL WHERE ldap_id = ''", "users_lower_ldap_id"),  # coalesce
        ("UPDATE groups SET ldap_id = NULL, n = 1 WHERE ldap_id = ''", "groups_ldap_id_key"),
    ],
)
def test_a_null_that_can_still_conflict_is_refused(tmp_path: Path, change: str, key: str) -> None:
    with pytest.raises(CannotPlan, match=f"unique key {key} of"):
        Project.create(tmp_path, NULLABLE).plan(change + ";\n")
