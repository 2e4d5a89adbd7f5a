-- Users, their project roles and sessions; saved insights and dashboards.
-- These tables are read and written by internal/meta/sqlmeta, the same code
-- for SQLite and PostgreSQL, so their column types are the portable subset:
-- times are Unix milliseconds, flags are 0/1 integers, JSON is text.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_ms    BIGINT  NOT NULL
);

CREATE TABLE memberships (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    role       TEXT    NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

-- Sessions are found by the SHA-256 of the cookie value; the cookie itself
-- is never stored.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT    NOT NULL,
    expires_ms BIGINT  NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE insights (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name       TEXT    NOT NULL,
    spec       TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    updated_ms BIGINT  NOT NULL
);
CREATE INDEX insights_project ON insights (project_id);

CREATE TABLE dashboards (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    name            TEXT    NOT NULL,
    date_range      TEXT    NOT NULL DEFAULT '',
    refresh_seconds INTEGER NOT NULL DEFAULT 0,
    tiles           TEXT    NOT NULL,
    share_token     TEXT    UNIQUE,
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
CREATE INDEX dashboards_project ON dashboards (project_id);
CREATE INDEX api_keys_project ON api_keys (project_id);
