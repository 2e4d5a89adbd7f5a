-- Pending invites to projects (read and written by internal/meta/sqlmeta,
-- so portable types only). A project admin invites an email; the user with
-- that email becomes a member only by accepting, so adding a member never
-- tells the admin whether an account exists. One pending invite per email
-- and project: inviting again replaces it.
CREATE TABLE invites (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    email      TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    invited_by INTEGER NOT NULL,
    created_ms BIGINT  NOT NULL,
    UNIQUE (project_id, email)
);
CREATE INDEX invites_email ON invites (email);
