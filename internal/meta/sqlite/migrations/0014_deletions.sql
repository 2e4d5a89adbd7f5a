-- Deletion jobs (issue 17 item 1): a person's deletion, run step by step
-- by the replica that loads events and recorded after each step, so that a
-- restart resumes it (read and written by internal/meta/sqlmeta, so
-- portable types only: integer ids, Unix-millisecond times, JSON as text).
-- person_id is the person asked for (0 when asked by distinct_id until the
-- job resolves it); subject is the person's ids and distinct ids as JSON,
-- recorded before anything is deleted, its distinct ids cleared (like
-- distinct_id) once the job is done; counts is JSON too. log_position is
-- the event log's end when the job was first claimed. claimed_by holds the
-- job until claimed_until_ms.
CREATE TABLE deletion_jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    person_id        BIGINT  NOT NULL,
    distinct_id      TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    step             TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    counts           TEXT    NOT NULL,
    log_position     BIGINT  NOT NULL,
    attempts         INTEGER NOT NULL,
    error            TEXT    NOT NULL,
    requested_by     TEXT    NOT NULL,
    created_ms       BIGINT  NOT NULL,
    updated_ms       BIGINT  NOT NULL,
    done_ms          BIGINT,
    claimed_by       TEXT    NOT NULL,
    claimed_until_ms BIGINT  NOT NULL
);
-- The claim reads the jobs left to do, oldest first.
CREATE INDEX deletion_jobs_todo ON deletion_jobs (id) WHERE status IN ('queued', 'running');
-- A person's sends (by distinct id) and flag hash keys (by hash key) are
-- found without a scan when the person is deleted or exported.
CREATE INDEX sends_distinct_id ON sends (project_id, distinct_id);
CREATE INDEX flag_hash_keys_hash_key ON flag_hash_keys (project_id, hash_key);
