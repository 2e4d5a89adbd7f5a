-- The voice-of-customer inbox (read and written by internal/meta/sqlmeta,
-- so portable types only: integer ids, Unix-millisecond times, JSON as
-- text). AUTOINCREMENT: ids are never reused.

-- Themes group feedback items; revenue_property is the group property a
-- ranking sums (default mrr); merged_into is the theme it was merged into
-- (0: none).
CREATE TABLE feedback_themes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    name             TEXT    NOT NULL,
    revenue_property TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    merged_into      BIGINT  NOT NULL,
    created_ms       BIGINT  NOT NULL,
    updated_ms       BIGINT  NOT NULL
);
CREATE INDEX feedback_themes_project ON feedback_themes (project_id, id);

-- One row per item. accounts, tags and attachments are JSON lists of
-- text; theme_id, merged_into and assignee_id are 0 when unset;
-- external_id is the sender's id of the item (a help desk's ticket id,
-- '' when none), unique per project and source so a retried delivery
-- stores nothing new.
CREATE TABLE feedback_items (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects(id),
    text              TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    distinct_id       TEXT    NOT NULL,
    person_id         BIGINT  NOT NULL,
    accounts          TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    priority          TEXT    NOT NULL,
    tags              TEXT    NOT NULL,
    assignee_id       BIGINT  NOT NULL,
    attachments       TEXT    NOT NULL,
    votes             INTEGER NOT NULL,
    theme_id          BIGINT  NOT NULL,
    merged_into       BIGINT  NOT NULL,
    external_id       TEXT    NOT NULL,
    created_ms        BIGINT  NOT NULL,
    updated_ms        BIGINT  NOT NULL,
    first_response_ms BIGINT,
    resolved_ms       BIGINT
);
CREATE INDEX feedback_items_project ON feedback_items (project_id, id);
CREATE INDEX feedback_items_theme ON feedback_items (project_id, theme_id, id);
CREATE INDEX feedback_items_distinct ON feedback_items (project_id, distinct_id);
CREATE UNIQUE INDEX feedback_items_external ON feedback_items (project_id, source, external_id) WHERE external_id <> '';

-- Tags of items, one row each, for exact tag filters.
CREATE TABLE feedback_tags (
    project_id INTEGER NOT NULL,
    tag        TEXT    NOT NULL,
    item_id    BIGINT  NOT NULL,
    PRIMARY KEY (project_id, tag, item_id)
);
CREATE INDEX feedback_tags_item ON feedback_tags (item_id);

-- The search index: the distinct character n-grams of each item's text
-- (voc.Grams: bigrams of Hangul and CJK, trigrams of other scripts), so
-- Korean and English both match without word splitting.
CREATE TABLE feedback_grams (
    project_id INTEGER NOT NULL,
    gram       TEXT    NOT NULL,
    item_id    BIGINT  NOT NULL,
    PRIMARY KEY (project_id, gram, item_id)
);
CREATE INDEX feedback_grams_item ON feedback_grams (item_id);

-- Internal notes and customer-visible replies.
CREATE TABLE feedback_comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    item_id    BIGINT  NOT NULL,
    kind       TEXT    NOT NULL,
    user_id    BIGINT  NOT NULL,
    text       TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL
);
CREATE INDEX feedback_comments_item ON feedback_comments (project_id, item_id, id);
