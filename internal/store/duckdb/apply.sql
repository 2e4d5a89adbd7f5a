-- Moves a staged batch into the event store (the events themselves are
-- inserted by insert_events.sql first).
INSERT OR REPLACE INTO person_distinct_ids SELECT * FROM stage_distinct_ids;
INSERT OR REPLACE INTO persons SELECT * FROM stage_persons;
INSERT OR REPLACE INTO person_overrides SELECT * FROM stage_overrides;
INSERT INTO groups SELECT * FROM stage_groups
ON CONFLICT (project_id, group_type, group_key) DO UPDATE
SET properties = json_merge_patch(groups.properties, excluded.properties);
DELETE FROM persons WHERE id IN (SELECT old_person_id FROM stage_overrides);
