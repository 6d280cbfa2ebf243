-- migrate:lint-ignore-file drop-table, statements-after-access-exclusive -- reverts 002, which created these tables; they are dropped together
-- Reverts 002. Dropping a table also drops its indexes, constraints and grants; the
-- grants are revoked first anyway so the down reads as the mirror of the up.
-- Children before parents (user_feedback and rule_performance reference sessions).

REVOKE SELECT ON rule_performance, rule_combinations FROM mcp_server_user;

DROP TABLE rule_combinations;
DROP TABLE rule_performance;
DROP TABLE user_feedback;
DROP TABLE improvement_sessions;
