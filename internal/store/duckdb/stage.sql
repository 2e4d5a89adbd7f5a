-- Per-connection staging tables: the loader appends a batch here with the
-- appender, then moves it into the real tables in one transaction.
CREATE TEMP TABLE IF NOT EXISTS stage_events AS SELECT * FROM events LIMIT 0;
CREATE TEMP TABLE IF NOT EXISTS stage_distinct_ids AS SELECT * FROM person_distinct_ids LIMIT 0;
CREATE TEMP TABLE IF NOT EXISTS stage_persons AS SELECT * FROM persons LIMIT 0;
CREATE TEMP TABLE IF NOT EXISTS stage_overrides AS SELECT * FROM person_overrides LIMIT 0;
CREATE TEMP TABLE IF NOT EXISTS stage_groups AS SELECT * FROM groups LIMIT 0;
