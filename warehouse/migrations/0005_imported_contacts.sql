-- Contacts that do not come from scans (issue 9, "Imported contacts"): people named in case
-- interviews, or recorded by proximity devices, brought in by `truyvet import contacts`
-- straight into the warehouse (a record made offline, not a stream event). Traces read them
-- beside the stream's contact edges.
--   * A contact is identified by its pair (citizen_a < citizen_b), start, end, setting and
--     source, and all of these are in the sorting key: importing a file again collapses into
--     the rows already there. contact_id is a hash of the same columns.
--   * place_id is the one content column outside the identity. Importing a contact again with
--     another place corrects it: ReplacingMergeTree(imported_at) keeps the latest import.
--     Readers use FINAL.
--   * Partitioned by the start's month, which is part of the identity: every copy of a contact
--     meets in one partition and collapses there.
--   * CHECK constraints repeat the file format's rules (ingest/contactlog.py) as the
--     warehouse's last line: closed lists of settings and sources (a new value needs a new
--     migration), and a positive duration of at most 24 hours, which also bounds how far
--     before a window a read has to look.
--   * No TTL here: retention is one setting, applied by warehouse/retention.py on every start,
--     counted from the end of the contact.
-- Every statement may run again after a failure half-way: the file is re-run from the top
-- until it is recorded in schema_versions. No table below exists before this file.

-- Time first: what was imported for a period. Reads by person use the table below.
CREATE TABLE IF NOT EXISTS imported_contacts
(
    contact_id  String,
    citizen_a   String,
    citizen_b   String,
    started_at  DateTime64(3, 'UTC'),
    ended_at    DateTime64(3, 'UTC'),
    setting     LowCardinality(String),
    source      LowCardinality(String),
    place_id    String DEFAULT '',
    imported_at DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT citizen_a_is_cccd CHECK match(citizen_a, '^[0-9]{12}$'),
    CONSTRAINT citizen_b_is_cccd CHECK match(citizen_b, '^[0-9]{12}$'),
    -- One order for the pair, or the same two people would be two contacts.
    CONSTRAINT pair_is_ordered CHECK citizen_a < citizen_b,
    CONSTRAINT started_in_range CHECK started_at >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC')
                                  AND started_at < toDateTime64('2100-01-01 00:00:00', 3, 'UTC'),
    CONSTRAINT duration_in_range CHECK ended_at > started_at
                                   AND toUnixTimestamp64Milli(ended_at) - toUnixTimestamp64Milli(started_at) <= 86400000,
    CONSTRAINT setting_is_known CHECK setting IN ('household', 'workplace', 'school', 'healthcare', 'transport',
                                                  'social', 'other'),
    CONSTRAINT source_is_known CHECK source IN ('interview', 'device', 'other'),
    CONSTRAINT place_id_length CHECK length(place_id) <= 64
)
ENGINE = ReplacingMergeTree(imported_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (started_at, citizen_a, citizen_b, ended_at, setting, source);

-- One row per person of each contact (citizen_id, other_id), as contacts_by_citizen is for the
-- stream's edges: tracing reads one person's contacts from one range of the key. Corrections
-- arrive through the view like the contacts themselves, and collapse the same way.
CREATE TABLE IF NOT EXISTS imported_contacts_by_citizen
(
    citizen_id  String,
    other_id    String,
    started_at  DateTime64(3, 'UTC'),
    ended_at    DateTime64(3, 'UTC'),
    setting     LowCardinality(String),
    source      LowCardinality(String),
    place_id    String DEFAULT '',
    contact_id  String,
    imported_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(imported_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (citizen_id, started_at, other_id, ended_at, setting, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS imported_contacts_by_citizen_mv TO imported_contacts_by_citizen
AS SELECT pair.1 AS citizen_id, pair.2 AS other_id, started_at, ended_at, setting, source, place_id,
          contact_id, imported_at
FROM imported_contacts
ARRAY JOIN [(citizen_a, citizen_b), (citizen_b, citizen_a)] AS pair;
