"""The columns of a view that show the clock (tests/plan/differential/clock.py), read
from a real database: directly, through a function of the database, through another
view; and the columns that do not."""

from __future__ import annotations

import asyncpg

from tests.plan.differential.clock import clock_columns, clock_functions
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
