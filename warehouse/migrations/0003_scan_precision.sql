-- Scans get a precision (issue "Bulk scan import", "Presence intervals"): 'instant' (the scan
-- happened at ts) or 'day' (only the date is known: paper logs, published case routes; ts is
-- that day's midnight in Viet Nam, UTC+7, stored in UTC). Old rows are 'instant'.
--   * precision is content, so it joins both sorting keys, as 0002 put every content column
--     there: a second event with the same id and another precision is kept apart, never
--     collapsed into the first. ClickHouse cannot add a column with a default to an existing
--     sorting key, so both tables are rebuilt, as 0002 rebuilt them.
--   * CHECK constraints: a known precision, and a day record starting at local midnight.
-- Every statement may run again after a failure half-way: the file is re-run from the top
-- until it is recorded in schema_versions. Writers should be stopped while it runs (as for
-- 0002): rows inserted into scans during its rebuild would be lost with the replaced table.

-- Created afresh below, after both tables are final; rows written meanwhile are copied by the
-- last statement.
DROP VIEW IF EXISTS scans_by_citizen_mv;

-- Lets the rebuild below read precision both on the first run and on a re-run.
ALTER TABLE scans ADD COLUMN IF NOT EXISTS precision LowCardinality(String) DEFAULT 'instant' AFTER direction;

-- One atomic statement: the new table is filled under a temporary name and swapped in only when
-- complete. On a re-run it copies the new table onto itself.
CREATE OR REPLACE TABLE scans
(
    event_id    String,
    citizen_id  String,
    place_id    String,
    ts          DateTime64(3, 'UTC'),
    direction   LowCardinality(String),
    precision   LowCardinality(String) DEFAULT 'instant',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT citizen_id_is_cccd CHECK match(citizen_id, '^[0-9]{12}$'),
    CONSTRAINT place_id_length CHECK length(place_id) BETWEEN 1 AND 64,
    CONSTRAINT ts_in_range CHECK ts >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
                             AND ts < toDateTime64('2100-01-01 00:00:00', 3, 'UTC'),
    CONSTRAINT precision_is_known CHECK precision IN ('instant', 'day'),
    -- Viet Nam has kept UTC+7 without daylight saving since 1975: local midnight is a fixed
    -- offset in every day that ts_in_range allows.
    CONSTRAINT day_starts_at_local_midnight CHECK precision != 'day'
                             OR (toUnixTimestamp64Milli(ts) + 25200000) % 86400000 = 0
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (place_id, ts, event_id, citizen_id, direction, precision)
AS SELECT event_id, citizen_id, place_id, ts, direction, precision, ingested_at
FROM scans
SETTINGS throw_on_max_partitions_per_insert_block = 0;

-- Emptied and refilled from scans by the last statement, which holds every row.
CREATE OR REPLACE TABLE scans_by_citizen
(
    event_id    String,
    citizen_id  String,
    place_id    String,
    ts          DateTime64(3, 'UTC'),
    direction   LowCardinality(String),
    precision   LowCardinality(String) DEFAULT 'instant',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (citizen_id, ts, event_id, place_id, direction, precision);

CREATE MATERIALIZED VIEW IF NOT EXISTS scans_by_citizen_mv TO scans_by_citizen
AS SELECT event_id, citizen_id, place_id, ts, direction, precision, ingested_at
FROM scans;

-- After the view exists, so no row is missed; rows copied twice collapse (same sorting key).
INSERT INTO scans_by_citizen (event_id, citizen_id, place_id, ts, direction, precision, ingested_at)
SELECT event_id, citizen_id, place_id, ts, direction, precision, ingested_at
FROM scans
SETTINGS throw_on_max_partitions_per_insert_block = 0;
