-- Event and property definitions maintained at ingest (issue 17 item 6),
-- and dashboard share tokens stored hashed. Read and written by
-- internal/meta/sqlmeta, so portable types only: integer ids,
-- Unix-millisecond times, text.
--
-- The loader aggregates each batch (per project: event names, and the
-- property keys of events and of $set/$set_once on persons) and upserts
-- here: first_seen_ms is the earliest event time seen, last_seen_ms the
-- latest, volume the events counted (for properties, the events carrying
-- the key). value_type is the first type seen of a property's values
-- (String, Numeric, Boolean, DateTime), as PostHog keeps it.
CREATE TABLE event_definitions (
    project_id    BIGINT NOT NULL,
    name          TEXT   NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    volume        BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- kind is event or person.
CREATE TABLE property_definitions (
    project_id    BIGINT NOT NULL,
    kind          TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    value_type    TEXT   NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    volume        BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind, name)
);

-- A project keeps at most a fixed number of distinct names per kind (a
-- public token can mint names); names past the cap are counted here.
-- kind is event, event_property or person_property.
CREATE TABLE definitions_dropped (
    project_id BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    dropped    BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind)
);

-- Share tokens: only their SHA-256 (hex) from now on. Tokens stored in
-- plaintext before this migration are hashed by sqlmeta's HashShareTokens
-- when the store opens (SQLite has no SHA-256 in SQL), which then clears
-- share_token.
ALTER TABLE dashboards ADD COLUMN share_token_hash TEXT;
CREATE UNIQUE INDEX dashboards_share_token_hash ON dashboards (share_token_hash);
