-- Campaigns that act on a cohort (issue 15): a broadcast schedules one send
-- per member, a cohort trigger messages the persons who entered it since
-- the last evaluation. Both go through the cohort in passes, page by page.
--
-- campaign_cohort_runs is a campaign's current pass, one row: generation
-- counts the passes (1 the first: a cohort trigger's baseline, a
-- broadcast's only one), cursor_id the last person id done in it (pages
-- go on after it), as_of_ms the time the pass evaluates the cohort at
-- (fixed, so a resumed pass reads the same cohort), done_ms when the pass
-- ended. claimed_by holds the row until claimed_until_ms: one replica
-- works on a campaign's pass at a time.
CREATE TABLE campaign_cohort_runs (
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    campaign_id      INTEGER NOT NULL,
    generation       BIGINT  NOT NULL,
    cursor_id        BIGINT  NOT NULL,
    as_of_ms         BIGINT  NOT NULL,
    done_ms          BIGINT,
    claimed_by       TEXT    NOT NULL,
    claimed_until_ms BIGINT  NOT NULL,
    updated_ms       BIGINT  NOT NULL,
    PRIMARY KEY (campaign_id),
    FOREIGN KEY (project_id, campaign_id) REFERENCES campaigns (project_id, id)
);

-- campaign_cohort_members: the persons a cohort trigger saw in its cohort,
-- with the last pass (generation) that saw them. A person seen in a pass
-- who was not seen in the one before entered the cohort.
CREATE TABLE campaign_cohort_members (
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    campaign_id INTEGER NOT NULL,
    person_id   BIGINT  NOT NULL,
    generation  BIGINT  NOT NULL,
    PRIMARY KEY (campaign_id, person_id),
    FOREIGN KEY (project_id, campaign_id) REFERENCES campaigns (project_id, id)
);
-- Persons who left (seen last before a pass) are dropped at its end.
CREATE INDEX campaign_cohort_members_generation ON campaign_cohort_members (campaign_id, generation);
