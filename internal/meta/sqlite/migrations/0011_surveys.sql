-- Surveys in PostHog's JSON model (read and written by
-- internal/meta/sqlmeta, so portable types only: integer ids,
-- Unix-millisecond times, JSON as text).
-- AUTOINCREMENT: ids are never reused, so responses ($survey_id in
-- `survey sent` events) of a deleted survey never count for a newer one.

-- Surveys are soft-deleted (deleted_ms set). definition (description,
-- questions, conditions, appearance, iteration, responses limit) is JSON
-- text, kept byte for byte. start_ms and end_ms are NULL when unset; the
-- public surveys endpoint reads the running ones by surveys_project_status.
CREATE TABLE surveys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name       TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    definition TEXT    NOT NULL,
    start_ms   BIGINT,
    end_ms     BIGINT,
    version    INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    updated_by INTEGER NOT NULL,
    created_ms BIGINT  NOT NULL,
    updated_ms BIGINT  NOT NULL,
    deleted_ms BIGINT
);
CREATE INDEX surveys_project_status ON surveys (project_id, status) WHERE deleted_ms IS NULL;
