-- What the collector knows about windows, series freshness and schedules (issue 5).
-- fetch_windows: the latest outcome per requested window, so coverage can tell windows the
-- upstream answered "no data" from windows never fetched; area_to is '' for one-area data.
CREATE TABLE fetch_windows (
    source VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    area VARCHAR NOT NULL,
    area_to VARCHAR NOT NULL DEFAULT '',
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    outcome VARCHAR NOT NULL,
    points BIGINT NOT NULL DEFAULT 0,
    http_status INTEGER,
    last_error VARCHAR,
    attempts INTEGER NOT NULL DEFAULT 1,
    fetched_at TIMESTAMPTZ NOT NULL,
    last_success_at TIMESTAMPTZ,
    PRIMARY KEY (source, dataset, area, area_to, window_start, window_end)
);
-- collection_status: per dataset and area, monitoring counters and times.
CREATE TABLE collection_status (
    source VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    area VARCHAR NOT NULL,
    area_to VARCHAR NOT NULL DEFAULT '',
    last_attempt_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_failure_at TIMESTAMPTZ,
    last_error VARCHAR,
    requests BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    empty_windows BIGINT NOT NULL DEFAULT 0,
    points_inserted BIGINT NOT NULL DEFAULT 0,
    points_updated BIGINT NOT NULL DEFAULT 0,
    points_unchanged BIGINT NOT NULL DEFAULT 0,
    status_codes VARCHAR NOT NULL DEFAULT '{}',
    PRIMARY KEY (source, dataset, area, area_to)
);
-- schedule_state: when each scheduled job last ran, so missed runs are caught up.
CREATE TABLE schedule_state (
    job_name VARCHAR PRIMARY KEY,
    last_started_at TIMESTAMPTZ,
    last_finished_at TIMESTAMPTZ,
    last_outcome VARCHAR,
    last_error VARCHAR,
    runs BIGINT NOT NULL DEFAULT 0
);
