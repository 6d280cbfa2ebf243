-- The unified feedback schema: improvement sessions, the feedback users give on them,
-- and the per-rule measurements the MCP server reads. Every table is new here, so
-- plain CREATE INDEX is right (no rows, no readers yet).

CREATE TABLE improvement_sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_key text NOT NULL UNIQUE,
    original_prompt text NOT NULL,
    improved_prompt text,
    rules_applied jsonb NOT NULL DEFAULT '[]'::jsonb,
    metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT improvement_sessions_completed_after_start
        CHECK (completed_at IS NULL OR completed_at >= started_at)
);

CREATE INDEX improvement_sessions_metrics_gin ON improvement_sessions USING gin (metrics);
CREATE INDEX improvement_sessions_started_at_idx ON improvement_sessions (started_at);

CREATE TABLE user_feedback (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES improvement_sessions (id) ON DELETE CASCADE,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment text,
    feedback_data jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX user_feedback_session_id_idx ON user_feedback (session_id);
CREATE INDEX user_feedback_feedback_data_gin ON user_feedback USING gin (feedback_data);

CREATE TABLE rule_performance (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id text NOT NULL,
    session_id bigint REFERENCES improvement_sessions (id) ON DELETE SET NULL,
    improvement_score double precision NOT NULL CHECK (improvement_score BETWEEN 0 AND 1),
    execution_time_ms integer CHECK (execution_time_ms >= 0),
    metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
    measured_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rule_performance_rule_id_measured_at_idx
    ON rule_performance (rule_id, measured_at DESC);
CREATE INDEX rule_performance_session_id_idx ON rule_performance (session_id);
CREATE INDEX rule_performance_metrics_gin ON rule_performance USING gin (metrics);

CREATE TABLE rule_combinations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_ids text[] NOT NULL CHECK (cardinality(rule_ids) >= 2),
    combination_key text NOT NULL UNIQUE,
    effectiveness double precision CHECK (effectiveness BETWEEN 0 AND 1),
    sample_count bigint NOT NULL DEFAULT 0 CHECK (sample_count >= 0),
    metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rule_combinations_rule_ids_gin ON rule_combinations USING gin (rule_ids);
CREATE INDEX rule_combinations_metrics_gin ON rule_combinations USING gin (metrics);

-- The MCP server only reads the rule tables; nothing else is granted.
GRANT SELECT ON rule_performance, rule_combinations TO mcp_server_user;
