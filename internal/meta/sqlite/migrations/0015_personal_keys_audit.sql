-- Personal API keys and the audit log (issue 17 item 2). Read and written
-- by internal/meta/sqlmeta, so portable types only: integer ids,
-- Unix-millisecond times, text.
--
-- A personal key belongs to a user and works on the projects that user
-- can see, with the user's role capped by its scopes (space-separated:
-- read, write, flags:definitions). Only the key's SHA-256 is stored, so a
-- request finds its key by hash; prefix is the key's first characters,
-- shown in lists so that a user tells keys apart. A rotation replaces the
-- hash and may keep the old one valid (prev_hash) until prev_until_ms.
-- last_used_ms is updated at most once a minute per key.
CREATE TABLE personal_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    name          TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,
    key_hash      TEXT    NOT NULL UNIQUE,
    prev_hash     TEXT,
    prev_until_ms BIGINT  NOT NULL,
    created_ms    BIGINT  NOT NULL,
    rotated_ms    BIGINT  NOT NULL,
    last_used_ms  BIGINT  NOT NULL,
    revoked_ms    BIGINT  NOT NULL
);
CREATE INDEX personal_keys_user ON personal_keys (user_id);
CREATE INDEX personal_keys_prev ON personal_keys (prev_hash);

-- The audit log: one row per admin action (keys, members, flags,
-- campaigns, experiments, deletions, settings…), written by the API's one
-- audit middleware. project_id is 0 for server-level actions (projects,
-- personal keys). actor is "user:<id>", "personal_key:<id>",
-- "secret_key" or "admin_key"; actor_name the user's email or the key's
-- prefix; action the route ("POST /api/v1/flags"); target the id acted on.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT  NOT NULL,
    at_ms      BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    actor_name TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    status     INTEGER NOT NULL
);
-- Settings pages read a project's entries newest first, a page at a time.
CREATE INDEX audit_log_project ON audit_log (project_id, id);
