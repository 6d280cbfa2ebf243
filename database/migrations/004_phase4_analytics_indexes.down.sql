-- migrate:no-transaction
-- Reverts 004 without blocking readers or writers, one idempotent statement at a time.

DROP INDEX CONCURRENTLY IF EXISTS discovered_patterns_rule_ids_gin;
DROP INDEX CONCURRENTLY IF EXISTS discovered_patterns_active_confidence_idx;
DROP INDEX CONCURRENTLY IF EXISTS user_feedback_created_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS rule_performance_metrics_path_gin;
