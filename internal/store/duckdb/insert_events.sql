-- Inserts the staged events that the project does not have yet: a client
-- retry or a replayed log entry carries a uuid that is already stored. The
-- check only looks at stored events whose timestamp is near the batch's
-- (the two bound parameters, the batch's range widened by a margin): a
-- retry keeps its event timestamp, and the time bound lets zone maps skip
-- most of the table instead of scanning every uuid ever stored.
INSERT INTO events
SELECT s.* FROM (
    SELECT * FROM stage_events
    QUALIFY row_number() OVER (PARTITION BY project_id, uuid ORDER BY received_at) = 1
) s
WHERE NOT EXISTS (
    SELECT 1 FROM events e
    WHERE e.ts >= ? AND e.ts <= ? AND e.uuid = s.uuid AND e.project_id = s.project_id
);
