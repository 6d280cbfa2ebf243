-- migrate:lint-ignore-file drop-table -- reverts 003, which created this table
-- Reverts 003 (the indexes and constraints go with the table).

DROP TABLE discovered_patterns;
