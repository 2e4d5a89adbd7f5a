-- Moves a staged batch into the event store. Events whose uuid the project
-- already has (a client retry, a replayed log entry) are not stored again.
INSERT INTO events
SELECT s.* FROM (
    SELECT * FROM stage_events
    QUALIFY row_number() OVER (PARTITION BY project_id, uuid ORDER BY received_at) = 1
) s
WHERE NOT EXISTS (
    SELECT 1 FROM events e WHERE e.uuid = s.uuid AND e.project_id = s.project_id
);
INSERT OR REPLACE INTO person_distinct_ids SELECT * FROM stage_distinct_ids;
INSERT OR REPLACE INTO persons SELECT * FROM stage_persons;
INSERT OR REPLACE INTO person_overrides SELECT * FROM stage_overrides;
INSERT INTO groups SELECT * FROM stage_groups
ON CONFLICT (project_id, group_type, group_key) DO UPDATE
SET properties = json_merge_patch(groups.properties, excluded.properties);
DELETE FROM persons WHERE id IN (SELECT old_person_id FROM stage_overrides);
