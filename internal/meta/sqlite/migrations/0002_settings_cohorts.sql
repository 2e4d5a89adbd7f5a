-- Per-project settings as JSON documents (e.g. "journey": the stage definitions).
CREATE TABLE project_settings (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (project_id, key)
);

-- Cohorts: static (a list of distinct ids) or behavioural (a definition
-- evaluated at query time), stored as JSON.
CREATE TABLE cohorts (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    name        TEXT    NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
CREATE INDEX cohorts_project ON cohorts (project_id);
