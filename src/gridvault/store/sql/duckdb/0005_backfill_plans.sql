-- Backfill plans (issue 5): one row per planned backfill, so a re-run of the same command
-- (or the same command on another machine) finds and resumes it, `gridvault jobs` can say
-- what each plan's chunks are for, and an overlapping plan can name the one it collides
-- with and how to resume it. The chunks themselves are rows of `jobs` with this plan_id.
-- base_id is the hash of what was asked (dataset, areas, range, options); generation
-- counts the plans made for the same request (a new one once the previous is finished).
-- (DuckDB: no extra index on jobs — an index on an updated column costs more than the scan.)
CREATE TABLE backfill_plans (
    plan_id VARCHAR PRIMARY KEY,
    base_id VARCHAR NOT NULL,
    generation INTEGER NOT NULL,
    dataset VARCHAR NOT NULL,
    areas VARCHAR NOT NULL,
    range_start TIMESTAMPTZ NOT NULL,
    range_end TIMESTAMPTZ NOT NULL,
    options VARCHAR NOT NULL DEFAULT '{}',
    command VARCHAR NOT NULL,
    chunks INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by VARCHAR NOT NULL,
    UNIQUE (base_id, generation)
);
