-- Exposure alerts (issue 9, "Cases and alerts"): every F1 and F2 of a reported case, routed to
-- the ward where the contact lives, as the alerts agents publish them on
-- truyvet.exposure-alerts.v1 and the sink stores them.
--   * Ward first, then time: a ward's alerts over a period are one range of the primary key
--     (GET /api/v1/wards/<ward>/alerts, newest first).
--   * event_id is the alert's id, derived from the case and the contact; alerted_at is when
--     the trace found the contact, and every copy of one alert carries the same. Both are in
--     the sorting key, so a redelivered or replayed alert collapses into the row already there
--     (ReplacingMergeTree; readers use FINAL). The partition key (the month of alerted_at) is
--     part of that identity: all copies meet in one partition.
--   * place_id is empty for an exposure not at a place (an imported contact: criterion holds
--     its setting).
--   * CHECK constraints are the warehouse's last line against producers that skip validation.
--   * No TTL here: retention is one setting, applied by warehouse/retention.py on every start,
--     counted from the first exposure (what the alert says about the contact's movements).
-- The statement may run again after a failure: the file is re-run until it is recorded in
-- schema_versions. The table does not exist before this file.

CREATE TABLE IF NOT EXISTS exposure_alerts
(
    event_id           String,
    case_id            String,
    case_citizen_id    String,
    contact_citizen_id String,
    tier               UInt8,
    first_exposure     DateTime64(3, 'UTC'),
    place_id           String DEFAULT '',
    criterion          LowCardinality(String),
    source             LowCardinality(String),
    alerted_at         DateTime64(3, 'UTC'),
    ward_code          UInt32,
    province_code      UInt32,
    ingested_at        DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT case_citizen_is_cccd CHECK match(case_citizen_id, '^[0-9]{12}$'),
    CONSTRAINT contact_is_cccd CHECK match(contact_citizen_id, '^[0-9]{12}$'),
    CONSTRAINT contact_is_not_the_case CHECK contact_citizen_id != case_citizen_id,
    CONSTRAINT tier_is_a_contact CHECK tier >= 1,
    CONSTRAINT source_is_known CHECK source IN ('stream', 'imported'),
    CONSTRAINT place_id_length CHECK length(place_id) <= 64,
    CONSTRAINT exposed_in_range CHECK first_exposure >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
                                  AND first_exposure < toDateTime64('2100-01-01 00:00:00', 3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(alerted_at)
ORDER BY (ward_code, alerted_at, event_id);
