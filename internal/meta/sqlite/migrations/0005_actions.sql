-- Actions: PostHog's named event matchers, their steps as JSON text (read
-- and written by internal/meta/sqlmeta, so portable types only).
-- AUTOINCREMENT: an id is never reused, so a saved insight or cohort that
-- names a deleted action fails instead of reading a newer one.
CREATE TABLE actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    steps       TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL
);
CREATE INDEX actions_project ON actions (project_id);
