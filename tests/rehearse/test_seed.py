"""Synthetic rows that respect types, NOT NULL, foreign keys, UNIQUE and CHECK."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from migrator.rehearse.seed import SeedResult, seed_empty_tables

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    code char(2) NOT NULL,
    mood mood NOT NULL,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    status text NOT NULL CHECK (status IN ('active', 'closed')),
    tags text[] NOT NULL CHECK (cardinality(tags) >= 2),
    token uuid NOT NULL UNIQUE,
    born date,
    profile jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    parent_id integer REFERENCES orders (id),
    total numeric(10, 2) NOT NULL CHECK (total >= 0),
    placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE already_full (id int);
INSERT INTO already_full VALUES (1);
"""


async def _seed(dsn: str) -> tuple[SeedResult, dict[str, Any]]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SCHEMA)
        result = await seed_empty_tables(connection, 200, [])
        facts = {
            "customers": await connection.fetchval("SELECT count(*) FROM customers"),
            "orders": await connection.fetchval("SELECT count(*) FROM orders"),
            "orphans": await connection.fetchval(
                "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
                " WHERE c.id IS NULL"
            ),
            "full": await connection.fetchval("SELECT count(*) FROM already_full"),
        }
        return result, facts
    finally:
        await connection.close()


def test_every_empty_table_is_filled_within_its_constraints(database_url: str) -> None:
    result, facts = asyncio.run(_seed(database_url))
    assert result.skipped == ()
    assert dict(result.filled) == {"public.customers": 200, "public.orders": 200}
    assert facts["customers"] == 200 and facts["orders"] == 200
    assert facts["orphans"] == 0
    assert facts["full"] == 1, "a table with rows is left alone"
