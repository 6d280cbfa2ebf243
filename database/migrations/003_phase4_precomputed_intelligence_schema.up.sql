-- Precomputed intelligence: rule patterns mined from sessions and feedback. The
-- table is new here, so its indexes are built in this same migration.

CREATE TABLE discovered_patterns (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pattern_key text NOT NULL UNIQUE,
    description text,
    pattern jsonb NOT NULL,
    rule_ids text[] NOT NULL DEFAULT '{}',
    support double precision NOT NULL CHECK (support BETWEEN 0 AND 1),
    confidence double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL DEFAULT 'candidate'
        CHECK (status IN ('candidate', 'active', 'retired')),
    source_session_id bigint REFERENCES improvement_sessions (id) ON DELETE SET NULL,
    discovered_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX discovered_patterns_pattern_gin ON discovered_patterns USING gin (pattern);
CREATE INDEX discovered_patterns_metrics_gin ON discovered_patterns USING gin (metrics);
CREATE INDEX discovered_patterns_source_session_id_idx
    ON discovered_patterns (source_session_id);
