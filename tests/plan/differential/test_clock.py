"""The columns of a view that show the clock (tests/plan/differential/clock.py), read
from a real database: directly, through a function of the database, through another
view; and the columns that do not."""

from __future__ import annotations

import asyncpg

from tests.plan.differential.clock import clock_columns, clock_functions, trigger_clock_columns
from tests.plan.scenario import run

SCHEMA = """
CREATE TABLE post (id int PRIMARY KEY, score int NOT NULL, published timestamptz NOT NULL);
CREATE FUNCTION age_hours(t timestamptz) RETURNS float LANGUAGE sql
    AS $$ SELECT extract(epoch FROM now() - t) / 3600 $$;
CREATE FUNCTION hot_rank(score int, t timestamptz) RETURNS int LANGUAGE sql
    AS $$ SELECT floor(10000 * log(greatest(1, score + 3)) / power(age_hours(t) + 2, 1.8))::int $$;
CREATE FUNCTION double(x int) RETURNS int LANGUAGE sql AS $$ SELECT 2 * x $$;
CREATE VIEW post_view AS
    SELECT id, double(score) AS twice, published, hot_rank(score, published) AS rank,
           CURRENT_DATE - published::date AS days, current_user AS who FROM post;
CREATE MATERIALIZED VIEW post_mview AS SELECT * FROM post_view;
CREATE VIEW post_union AS
    SELECT id, published AS at FROM post UNION ALL SELECT id, clock_timestamp() FROM post;
"""


def test_a_column_shows_the_clock_through_a_function_a_view_or_a_keyword(
    database_url: str,
) -> None:
    async def columns() -> dict[str, set[str]]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(SCHEMA)
            functions = await clock_functions(conn)
            assert {"now", "age_hours", "hot_rank"} <= functions
            assert "double" not in functions
            return {
                view: await clock_columns(conn, view, functions)
                for view in ("post_view", "post_mview", "post_union", "post")
            }
        finally:
            await conn.close()

    assert run(columns()) == {
        "post_view": {"rank", "days"},
        "post_mview": {"rank", "days"},
        "post_union": {"at"},
        "post": set(),
    }


CACHE = """
CREATE TABLE post_fast AS SELECT * FROM post_view;
CREATE TABLE post_counts (id int, n int, at timestamptz, rank int, twice int);
CREATE FUNCTION refresh_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'UPDATE') THEN
        -- the rank of every post: UPDATE post_fast SET twice = now()
        UPDATE post_fast AS f SET rank = v.rank, twice = v.twice FROM post_view AS v
        WHERE f.id = v.id;
    ELSIF (TG_OP = 'INSERT') THEN
        INSERT INTO post_fast SELECT * FROM post_view WHERE id = NEW.id;
        INSERT INTO post_counts (id, n, at) VALUES (NEW.id, 1, clock_timestamp());
        INSERT INTO post_counts (id, rank, twice)
            SELECT id, hot_rank(score, published), double(score) FROM post WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION double_fast() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN UPDATE post_fast SET twice = double(NEW.score); RETURN NULL; END $$;
"""


def test_a_table_column_a_trigger_fills_from_the_clock(database_url: str) -> None:
    """A column a trigger function fills with a value showing the clock: through a
    view's column (``SELECT *`` by position, ``SET c = v.c``), a function, a VALUES
    row; not what it fills from the row alone, nor what a comment or a quoted
    ``'UPDATE'`` says."""

    async def columns() -> dict[str, frozenset[str]]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(SCHEMA + CACHE)
            return await trigger_clock_columns(conn)
        finally:
            await conn.close()

    assert run(columns()) == {
        "post_fast": frozenset({"rank", "days"}),
        "post_counts": frozenset({"at", "rank"}),
    }
