-- The PostgreSQL twin of sqlite/migrations/0009_campaign_cohort_members.sql
-- (campaigns that act on a cohort: a broadcast's pass over its members, a
-- cohort trigger's passes and the members each saw).
CREATE TABLE campaign_cohort_runs (
    project_id       BIGINT NOT NULL REFERENCES projects(id),
    campaign_id      BIGINT NOT NULL,
    generation       BIGINT NOT NULL,
    cursor_id        BIGINT NOT NULL,
    as_of_ms         BIGINT NOT NULL,
    done_ms          BIGINT,
    claimed_by       TEXT   NOT NULL,
    claimed_until_ms BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    PRIMARY KEY (campaign_id),
    FOREIGN KEY (project_id, campaign_id) REFERENCES campaigns (project_id, id)
);

CREATE TABLE campaign_cohort_members (
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    campaign_id BIGINT NOT NULL,
    person_id   BIGINT NOT NULL,
    generation  BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, person_id),
    FOREIGN KEY (project_id, campaign_id) REFERENCES campaigns (project_id, id)
);
CREATE INDEX campaign_cohort_members_generation ON campaign_cohort_members (campaign_id, generation);
