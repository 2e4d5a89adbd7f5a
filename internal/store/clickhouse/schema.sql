-- Event store schema for ClickHouse 18.16 and later. {db} is the database,
-- {events_engine} the engine of events_local. Every table is local to a
-- server; with shards, events is a Distributed table over events_local
-- keyed by person, and the small identity tables are written to every
-- shard so joins stay local.
CREATE TABLE IF NOT EXISTS {db}.events_local (
    project_id  UInt64,
    uuid        UUID,
    event       String,
    distinct_id String,
    person_id   Int64,
    ts          DateTime('UTC'),
    ts_us       UInt64,          -- microseconds since the epoch: exact order within a second
    properties  String,          -- JSON text
    received_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, person_id, ts, uuid);

CREATE TABLE IF NOT EXISTS {db}.person_distinct_ids (
    project_id  UInt64,
    distinct_id String,
    person_id   Int64,
    version     UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (project_id, distinct_id);

CREATE TABLE IF NOT EXISTS {db}.persons (
    project_id UInt64,
    id         Int64,
    created_at DateTime('UTC'),
    properties String,
    is_deleted UInt8,
    version    UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (project_id, id);

CREATE TABLE IF NOT EXISTS {db}.person_overrides (
    project_id    UInt64,
    old_person_id Int64,
    person_id     Int64,
    version       UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY old_person_id;

CREATE TABLE IF NOT EXISTS {db}.groups (
    project_id UInt64,
    group_type String,
    group_key  String,
    created_at DateTime('UTC'),
    properties String,
    version    UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (project_id, group_type, group_key);

CREATE TABLE IF NOT EXISTS {db}.loader_checkpoint (
    id       UInt8,
    position UInt64,
    version  UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY id;

-- Tombstones of deleted persons (internal/privacy): their ids only, so that
-- the resolver never gives a deleted person's id to a new one.
CREATE TABLE IF NOT EXISTS {db}.erased_persons (
    project_id UInt64,
    person_id  Int64,
    version    UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (project_id, person_id);

-- Every stored (project, uuid), for dedup at any event time (dedup.go):
-- events is ordered by person and time, so finding a uuid there scans
-- the table; here the sparse primary index (one mark per 1024 rows, kept
-- in memory: a few MB for a billion events) finds a batch's uuids by
-- reading only their granules. Written and read on the first shard only.
CREATE TABLE IF NOT EXISTS {db}.event_uuids (
    project_id UInt64,
    uuid       UUID
) ENGINE = ReplacingMergeTree() ORDER BY (project_id, uuid) SETTINGS index_granularity = 1024;

-- One row once event_uuids holds the uuids of the events stored before
-- it existed (dedup.go's backfill).
CREATE TABLE IF NOT EXISTS {db}.event_uuids_backfill (
    done UInt8
) ENGINE = TinyLog;
