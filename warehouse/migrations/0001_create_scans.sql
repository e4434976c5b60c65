-- Checkpoint and venue scans. Ordered by place and time for co-location queries, with a
-- projection ordered by citizen and time for one person's movements. ReplacingMergeTree
-- collapses redelivered copies of an event (same event id, same content); readers use FINAL.
CREATE TABLE IF NOT EXISTS scans
(
    event_id    String,
    citizen_id  String,
    place_id    String,
    ts          DateTime64(3, 'UTC'),
    direction   LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    PROJECTION by_citizen (SELECT * ORDER BY citizen_id, ts)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (place_id, ts, event_id)
-- Movement data is personal: keep it one year, then ClickHouse drops it on merge.
TTL toDateTime(ts) + INTERVAL 1 YEAR
SETTINGS deduplicate_merge_projection_mode = 'rebuild';
