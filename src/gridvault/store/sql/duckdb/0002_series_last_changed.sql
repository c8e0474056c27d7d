-- When a series' stored values last changed (insert or update); caches key on it.
ALTER TABLE series ADD COLUMN last_changed_at TIMESTAMPTZ;
