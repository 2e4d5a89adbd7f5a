-- Inserts the staged events, once per (project, uuid) of the batch. Stored
-- uuids (a client retry, a replayed log entry) were already deleted from
-- the stage at any event time (dedup.go); the NOT EXISTS below is the old
-- time-bounded check, which Apply now gives an empty range (the two bound
-- parameters) that zone maps skip.
INSERT INTO events
SELECT s.* FROM (
    SELECT * FROM stage_events
    QUALIFY row_number() OVER (PARTITION BY project_id, uuid ORDER BY received_at) = 1
) s
WHERE NOT EXISTS (
    SELECT 1 FROM events e
    WHERE e.ts >= ? AND e.ts <= ? AND e.uuid = s.uuid AND e.project_id = s.project_id
);
