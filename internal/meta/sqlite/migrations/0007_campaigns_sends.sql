-- Campaigns and the durable schedule of their messages (read and written
-- by internal/meta/sqlmeta, so portable types only: integer ids,
-- Unix-millisecond times, JSON as text).
-- AUTOINCREMENT: ids are never reused, so a send or a report naming a
-- deleted campaign never reads a newer one.

-- Campaigns are soft-deleted (deleted_ms set). definition (trigger, goal,
-- wait, holdout, channel, variants, audience rules) is JSON text, kept
-- byte for byte; secret is the channel's secret (whsec_…, SMTP password).
-- UNIQUE (project_id, id) lets sends name their campaign together with
-- its project, so a send can never belong to another project's campaign.
CREATE TABLE campaigns (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    definition TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    updated_by INTEGER NOT NULL,
    created_ms BIGINT  NOT NULL,
    updated_ms BIGINT  NOT NULL,
    deleted_ms BIGINT,
    UNIQUE (project_id, id)
);
CREATE INDEX campaigns_project_status ON campaigns (project_id, status) WHERE deleted_ms IS NULL;

-- A per-project counter every campaign change bumps: the trigger engine of
-- every replica reads one row to know whether to reload.
CREATE TABLE campaign_revisions (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    revision   BIGINT  NOT NULL,
    PRIMARY KEY (project_id)
);

-- The durable schedule: one row per message, keyed by its idempotency key
-- (campaign, person, trigger event, variant, built by the caller), unique
-- in the whole table, so a repeated trigger inserts nothing. payload is the
-- rendered message (JSON text), fixed when scheduled. state is pending,
-- sending (claimed_by holds it until claimed_until_ms), sent, failed,
-- held_out or cancelled.
--
-- wake_ms is when the row next needs a sender: next_attempt_ms while
-- pending, claimed_until_ms while sending (a lease that runs out makes the
-- row claimable again). The claim reads the partial index sends_wake in
-- order, whichever of the two it is, and never the rows that are done.
CREATE TABLE sends (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT    NOT NULL UNIQUE,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    campaign_id      INTEGER NOT NULL,
    person_id        INTEGER NOT NULL,
    distinct_id      TEXT    NOT NULL,
    variant          TEXT    NOT NULL,
    trigger_uuid     TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    arm              TEXT    NOT NULL,
    due_ms           BIGINT  NOT NULL,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_ms  BIGINT  NOT NULL,
    wake_ms          BIGINT  NOT NULL,
    last_error       TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    created_ms       BIGINT  NOT NULL,
    sent_ms          BIGINT,
    claimed_by       TEXT    NOT NULL,
    claimed_until_ms BIGINT,
    FOREIGN KEY (project_id, campaign_id) REFERENCES campaigns (project_id, id)
);
CREATE INDEX sends_wake ON sends (wake_ms, id) WHERE state IN ('pending', 'sending');
-- A person's sends (cancel on goal, merges), a campaign's (counts, cancel
-- all) and the last one sent on a channel (frequency caps).
CREATE INDEX sends_person ON sends (project_id, person_id, campaign_id);
CREATE INDEX sends_campaign ON sends (project_id, campaign_id, state);
CREATE INDEX sends_sent ON sends (project_id, person_id, channel, sent_ms) WHERE state = 'sent';

-- Addresses that unsubscribed from a project's messages on a channel;
-- every campaign honours them.
CREATE TABLE unsubscribes (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (project_id, channel, address)
);
