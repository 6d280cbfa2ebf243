-- migrate:no-transaction
-- Query indexes on tables that earlier migrations created (they hold rows by now), so
-- each is built CONCURRENTLY, one statement at a time, outside a transaction. Every
-- statement is idempotent: if a run stops half way, running it again finishes the job.
-- (A failed concurrent build leaves an INVALID index that IF NOT EXISTS would keep:
-- `migrate verify` reports it; drop it and run again.)

CREATE INDEX CONCURRENTLY IF NOT EXISTS rule_performance_metrics_path_gin
    ON rule_performance USING gin (metrics jsonb_path_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS user_feedback_created_at_idx
    ON user_feedback (created_at);

CREATE INDEX CONCURRENTLY IF NOT EXISTS discovered_patterns_active_confidence_idx
    ON discovered_patterns (confidence DESC)
    WHERE status = 'active';

CREATE INDEX CONCURRENTLY IF NOT EXISTS discovered_patterns_rule_ids_gin
    ON discovered_patterns USING gin (rule_ids);
