-- gridvault schema v1 (DuckDB). Times are TIMESTAMPTZ in UTC (the session TimeZone is UTC).
-- observations has no primary key on purpose: the upsert MERGEs from a de-duplicated
-- staging relation, which avoids DuckDB's ART-index load penalty and ON CONFLICT quirks;
-- uniqueness of (series_id, interval_start) is covered by the store test suite.
CREATE SEQUENCE series_id_seq START 1;
CREATE TABLE series (
    series_id BIGINT PRIMARY KEY DEFAULT nextval('series_id_seq'),
    source VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    area VARCHAR NOT NULL,
    dimensions VARCHAR NOT NULL,
    unit VARCHAR,
    resolution VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (source, dataset, area, dimensions)
);
CREATE TABLE observations (
    series_id BIGINT NOT NULL,
    interval_start TIMESTAMPTZ NOT NULL,
    interval_end TIMESTAMPTZ NOT NULL,
    value DOUBLE,
    publish_time TIMESTAMPTZ,
    flags INTEGER NOT NULL DEFAULT 0,
    document_id VARCHAR,
    ingested_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE observation_history (
    series_id BIGINT NOT NULL,
    interval_start TIMESTAMPTZ NOT NULL,
    interval_end TIMESTAMPTZ NOT NULL,
    value DOUBLE,
    publish_time TIMESTAMPTZ,
    flags INTEGER NOT NULL DEFAULT 0,
    document_id VARCHAR,
    valid_from TIMESTAMPTZ NOT NULL,
    superseded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE outage_events (
    source VARCHAR NOT NULL,
    dataset VARCHAR,
    document_type VARCHAR,
    process_type VARCHAR,
    business_type VARCHAR,
    doc_status VARCHAR,
    document_mrid VARCHAR NOT NULL,
    revision_number INTEGER NOT NULL,
    created_at TIMESTAMPTZ,
    timeseries_mrid VARCHAR NOT NULL,
    area VARCHAR,
    in_domain VARCHAR,
    out_domain VARCHAR,
    resource VARCHAR,
    resource_name VARCHAR,
    resource_location VARCHAR,
    psr_type VARCHAR,
    nominal_power DOUBLE,
    unit VARCHAR,
    event_start TIMESTAMPTZ,
    event_end TIMESTAMPTZ,
    interval_start TIMESTAMPTZ NOT NULL,
    interval_end TIMESTAMPTZ NOT NULL,
    available_capacity DOUBLE,
    reason_code VARCHAR,
    reason_text VARCHAR,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, document_mrid, revision_number, timeseries_mrid, interval_start)
);
CREATE TABLE payloads (
    sha256 VARCHAR PRIMARY KEY,
    codec VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    stored_size BIGINT NOT NULL,
    body BLOB NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE archive_id_seq START 1;
CREATE TABLE archive (
    archive_id BIGINT PRIMARY KEY DEFAULT nextval('archive_id_seq'),
    sha256 VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    dataset VARCHAR,
    request VARCHAR NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    http_status INTEGER,
    content_type VARCHAR,
    parse_outcome VARCHAR,
    parse_error VARCHAR,
    parsed_at TIMESTAMPTZ
);
CREATE SEQUENCE job_id_seq START 1;
CREATE TABLE jobs (
    job_id BIGINT PRIMARY KEY DEFAULT nextval('job_id_seq'),
    plan_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    area VARCHAR NOT NULL,
    area_to VARCHAR NOT NULL DEFAULT '',
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    last_error VARCHAR,
    lease_owner VARCHAR,
    lease_expires_at TIMESTAMPTZ,
    not_before TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    result VARCHAR,
    UNIQUE (plan_id, dataset, area, area_to, window_start, window_end)
);
