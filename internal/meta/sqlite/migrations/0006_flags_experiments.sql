-- Feature flags, their history and hash keys; experiments, their timelines
-- and layers (read and written by internal/meta/sqlmeta, so portable types
-- only: integer ids, Unix-millisecond times, 0/1 flags, JSON as text).
-- AUTOINCREMENT: ids are never reused, so a history or a link naming a
-- deleted row never reads a newer one.

-- Flags are soft-deleted (deleted_ms set): the history stays, and the key
-- is unique only among the flags that are not deleted, so it can be reused.
-- definition is the flag's PostHog JSON, kept byte for byte.
CREATE TABLE flags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    key        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    active     INTEGER NOT NULL,
    definition TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    updated_by INTEGER NOT NULL,
    created_ms BIGINT  NOT NULL,
    updated_ms BIGINT  NOT NULL,
    deleted_ms BIGINT
);
CREATE UNIQUE INDEX flags_project_key ON flags (project_id, key) WHERE deleted_ms IS NULL;

-- One row per flag version, written in the transaction of the change.
CREATE TABLE flag_versions (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    flag_id    INTEGER NOT NULL REFERENCES flags(id),
    version    INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    at_ms      BIGINT  NOT NULL,
    action     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    active     INTEGER NOT NULL,
    definition TEXT    NOT NULL,
    PRIMARY KEY (flag_id, version)
);

-- A per-project counter every flag change bumps: ETags and cache reloads
-- read one row.
CREATE TABLE flag_revisions (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    revision   BIGINT  NOT NULL,
    PRIMARY KEY (project_id)
);

-- Experience continuity: the hash key a person was first bucketed with,
-- per flag; inserted where absent, never overwritten.
CREATE TABLE flag_hash_keys (
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    distinct_id TEXT    NOT NULL,
    flag_key    TEXT    NOT NULL,
    hash_key    TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    PRIMARY KEY (project_id, distinct_id, flag_key)
);

-- Experiments. definition (variants, weights, metrics, layer …) and result
-- (frozen when stopped) are JSON text. search_text and search_def are the
-- lower-cased (by Go, the same on both databases) name, hypothesis and
-- notes, and definition, that the archive's text search matches.
CREATE TABLE experiments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    name            TEXT    NOT NULL,
    hypothesis      TEXT    NOT NULL,
    owner_id        INTEGER NOT NULL,
    flag_key        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    definition      TEXT    NOT NULL,
    stage           TEXT    NOT NULL,
    started_ms      BIGINT,
    stopped_ms      BIGINT,
    decision        TEXT    NOT NULL,
    shipped_variant TEXT    NOT NULL,
    result          TEXT,
    notes           TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    search_text     TEXT    NOT NULL,
    search_def      TEXT    NOT NULL,
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
CREATE INDEX experiments_project ON experiments (project_id, id);

CREATE TABLE experiment_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    user_id       INTEGER NOT NULL,
    at_ms         BIGINT  NOT NULL,
    kind          TEXT    NOT NULL,
    detail        TEXT    NOT NULL
);
CREATE INDEX experiment_events_experiment ON experiment_events (project_id, experiment_id, at_ms);

-- Layers of mutually exclusive experiments; names are unique per project.
CREATE TABLE layers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name       TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    UNIQUE (project_id, name)
);
