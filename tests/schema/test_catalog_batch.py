"""The catalog read in one round trip says exactly what the query-by-query read says
(differential, on real databases: a schema that uses every kind of object the reader
knows, and the first lemmy migrations when the shared corpora are beside the checkout)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from migrator.schema import introspect
from migrator.schema.introspect import Exclusions, read_schema
from tests.helpers import shared_path

RICH = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA app;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE SEQUENCE counter INCREMENT 5 START 10;
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    score positive DEFAULT 1,
    feeling mood,
    doubled int GENERATED ALWAYS AS (score * 2) STORED,
    tags text[] DEFAULT '{}'
) WITH (fillfactor = 90);
ALTER TABLE accounts ALTER COLUMN email SET STATISTICS 500;
CREATE TABLE app.events (id int, at date, account bigint REFERENCES accounts ON DELETE CASCADE)
    PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE UNLOGGED TABLE scratch (x int);
ALTER TABLE scratch ADD CONSTRAINT scratch_x CHECK (x > 0) NOT VALID;
CREATE INDEX accounts_email_trgm ON accounts USING gin (email gin_trgm_ops) WHERE score > 1;
CREATE VIEW active AS SELECT id, email FROM accounts WHERE score > 1;
CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM accounts WITH NO DATA;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE RULE no_delete AS ON DELETE TO scratch DO INSTEAD NOTHING;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON accounts USING (email = current_user);
CREATE STATISTICS accounts_stats ON email, score FROM accounts;
CREATE ROLE catalog_batch_reader;
GRANT SELECT ON accounts TO catalog_batch_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO catalog_batch_reader;
CREATE PUBLICATION catalog_batch_pub FOR TABLE accounts;
COMMENT ON TABLE accounts IS 'people';
COMMENT ON COLUMN accounts.email IS 'their address';
"""
CLEANUP = """
DROP PUBLICATION IF EXISTS catalog_batch_pub;
DO $$BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalog_batch_reader') THEN
    DROP OWNED BY catalog_batch_reader;
    DROP ROLE catalog_batch_reader;
  END IF;
END$$;
"""


async def _both_reads(dsn: str, setup: list[str]) -> tuple[object, object, int]:
    connection = await asyncpg.connect(dsn)
    try:
        for sql in setup:
            await connection.execute(sql)
        batched = await read_schema(connection, exclusions=Exclusions(), include_roles=True)
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await connection.execute(introspect._SEARCH_PATH)
            one_by_one = await introspect._read(connection, Exclusions(), True)
        return batched, one_by_one, len(one_by_one)
    finally:
        await connection.close()


def _cleanup(dsn: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(CLEANUP)
        finally:
            await connection.close()

    asyncio.run(run())


def test_batched_read_equals_the_query_by_query_read(database_url: str) -> None:
    try:
        batched, one_by_one, count = asyncio.run(_both_reads(database_url, [RICH]))
    finally:
        _cleanup(database_url)
    assert count > 30
    assert batched == one_by_one


def test_batched_read_equals_on_the_first_lemmy_migrations(database_url: str) -> None:
    corpus = shared_path("corpora", "lemmy")
    ups: list[Path] = sorted(corpus.glob("*.up.sql"))[:60]
    batched, one_by_one, count = asyncio.run(
        _both_reads(database_url, [up.read_text() for up in ups])
    )
    assert count > 100
    assert batched == one_by_one
