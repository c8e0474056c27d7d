-- What the last successful fetch of each dataset/area changed (issue 6: /v1/updates says
-- per dataset and area when collection last ran and how many rows it inserted and
-- updated, beside the running totals). NULL until the first success after this migration.
ALTER TABLE collection_status ADD COLUMN last_fetch_start TIMESTAMPTZ;
ALTER TABLE collection_status ADD COLUMN last_fetch_end TIMESTAMPTZ;
ALTER TABLE collection_status ADD COLUMN last_fetch_inserted BIGINT;
ALTER TABLE collection_status ADD COLUMN last_fetch_updated BIGINT;
