CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    timezone   TEXT    NOT NULL DEFAULT 'UTC',
    token      TEXT    NOT NULL UNIQUE,
    created_at TEXT    NOT NULL
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    key_hash    TEXT    NOT NULL UNIQUE,
    created_at  TEXT    NOT NULL
);
