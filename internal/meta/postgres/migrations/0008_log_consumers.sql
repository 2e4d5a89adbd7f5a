-- The positions of the event log's consumers besides the loader (the
-- campaign trigger engine), one row each: the log is trimmed below the
-- lowest, and a consumer goes on from its own after a restart.
CREATE TABLE log_consumers (
    name       TEXT   PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
