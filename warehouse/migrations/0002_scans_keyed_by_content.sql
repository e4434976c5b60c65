-- Scans get a layout whose reads are honest (issue "An honest data path"):
--   * every content column is in the sorting key, so ReplacingMergeTree collapses only exact
--     redelivered copies: a second event with the same id and different content is kept apart
--     (two rows) and never silently replaces the first.
--   * one person's movements live in scans_by_citizen, ordered by citizen and time and fed by
--     a materialized view, because FINAL reads cannot use 0001's projection.
--   * CHECK constraints are the warehouse's last line against producers that skip validation.
--   * no TTL here: retention is one setting, applied by warehouse/retention.py on every start.
-- Every statement may run again after a failure half-way: the file is re-run from the top
-- until it is recorded in schema_versions.

-- Created afresh below, after the table it reads is final: a re-run then never depends on how
-- a view follows a replaced table. Rows written meanwhile are copied by the last statement.
DROP VIEW IF EXISTS scans_by_citizen_mv;

-- Old rows the new checks refuse are kept aside, not dropped: someone has to look at them.
CREATE TABLE IF NOT EXISTS scans_invalid_0002
ENGINE = MergeTree
ORDER BY tuple()
AS SELECT event_id, citizen_id, place_id, ts, direction, ingested_at
FROM scans
WHERE NOT (match(citizen_id, '^[0-9]{12}$')
           AND length(place_id) BETWEEN 1 AND 64
           AND ts >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
           AND ts < toDateTime64('2100-01-01 00:00:00', 3, 'UTC'));

-- One atomic statement moves the rows and drops the old table: the new table is filled under a
-- temporary name and swapped in only when complete. On a re-run it copies the new table onto
-- itself. Old data may span more than 100 months, hence the partition limit is lifted.
CREATE OR REPLACE TABLE scans
(
    event_id    String,
    citizen_id  String,
    place_id    String,
    ts          DateTime64(3, 'UTC'),
    direction   LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT citizen_id_is_cccd CHECK match(citizen_id, '^[0-9]{12}$'),
    CONSTRAINT place_id_length CHECK length(place_id) BETWEEN 1 AND 64,
    CONSTRAINT ts_in_range CHECK ts >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
                             AND ts < toDateTime64('2100-01-01 00:00:00', 3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (place_id, ts, event_id, citizen_id, direction)
AS SELECT event_id, citizen_id, place_id, ts, direction, ingested_at
FROM scans
WHERE match(citizen_id, '^[0-9]{12}$')
  AND length(place_id) BETWEEN 1 AND 64
  AND ts >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
  AND ts < toDateTime64('2100-01-01 00:00:00', 3, 'UTC')
SETTINGS throw_on_max_partitions_per_insert_block = 0;

CREATE TABLE IF NOT EXISTS scans_by_citizen
(
    event_id    String,
    citizen_id  String,
    place_id    String,
    ts          DateTime64(3, 'UTC'),
    direction   LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (citizen_id, ts, event_id, place_id, direction);

CREATE MATERIALIZED VIEW IF NOT EXISTS scans_by_citizen_mv TO scans_by_citizen
AS SELECT event_id, citizen_id, place_id, ts, direction, ingested_at
FROM scans;

-- After the view exists, so no row is missed; rows copied twice collapse (same sorting key).
INSERT INTO scans_by_citizen (event_id, citizen_id, place_id, ts, direction, ingested_at)
SELECT event_id, citizen_id, place_id, ts, direction, ingested_at
FROM scans
SETTINGS throw_on_max_partitions_per_insert_block = 0;
