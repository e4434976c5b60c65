-- What the stream pipeline derives from scans (issue 8): contact edges, crowd exposures and
-- rejected identities, and whether a scanned person is in the registry.
--   * An edge is identified by (place_id, citizen_a, citizen_b, rule_version, window_start), a
--     crowd exposure by (place_id, window_start); the stream publishes revisions of both, and
--     ReplacingMergeTree(revision) keeps the latest. A retracted revision stays as a row (it
--     must outrank the older ones a replay may bring back); readers use FINAL and skip it.
--   * Every partition key is part of the identity, so all revisions of one edge meet in one
--     partition and collapse there.
--   * CHECK constraints are the warehouse's last line against producers that skip validation.
--   * No TTL here: retention is one setting, applied by warehouse/retention.py on every start.
-- Every statement may run again after a failure half-way: the file is re-run from the top
-- until it is recorded in schema_versions. No table below exists before this file, so nothing
-- has to be copied, and the scans tables keep their rows in place.

-- Derived by verification, not content: the same scan verified again after the registry
-- learnt the person is the same scan. So not in the sorting key (a re-verified copy replaces
-- the first instead of standing beside it), and true for scans stored before verification.
ALTER TABLE scans ADD COLUMN IF NOT EXISTS registered Bool DEFAULT true AFTER precision;

-- Place first, then time: the place-level reads (who met whom here, in this window) read one
-- range of the primary key. The identity's other columns complete the key.
CREATE TABLE IF NOT EXISTS contacts
(
    event_id        String,
    place_id        String,
    citizen_a       String,
    citizen_b       String,
    rule_version    LowCardinality(String),
    window_start    DateTime64(3, 'UTC'),
    criterion       LowCardinality(String),
    first_together  DateTime64(3, 'UTC'),
    last_together   DateTime64(3, 'UTC'),
    overlap_minutes Float64,
    revision        UInt64,
    retracted       Bool,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT citizen_a_is_cccd CHECK match(citizen_a, '^[0-9]{12}$'),
    CONSTRAINT citizen_b_is_cccd CHECK match(citizen_b, '^[0-9]{12}$'),
    -- One order for the pair, or the same two people would be two edges.
    CONSTRAINT pair_is_ordered CHECK citizen_a < citizen_b,
    CONSTRAINT place_id_length CHECK length(place_id) BETWEEN 1 AND 64,
    CONSTRAINT together_in_order CHECK first_together <= last_together
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(window_start)
ORDER BY (place_id, window_start, citizen_a, citizen_b, rule_version);

-- One row per person of each edge (citizen_id, other_id), so tracing reads one person's
-- contacts from one range of the key instead of scanning contacts for citizen_b. Revisions
-- and retractions arrive through the view like the edges themselves, and collapse the same way.
CREATE TABLE IF NOT EXISTS contacts_by_citizen
(
    citizen_id      String,
    other_id        String,
    place_id        String,
    rule_version    LowCardinality(String),
    window_start    DateTime64(3, 'UTC'),
    event_id        String,
    criterion       LowCardinality(String),
    first_together  DateTime64(3, 'UTC'),
    last_together   DateTime64(3, 'UTC'),
    overlap_minutes Float64,
    revision        UInt64,
    retracted       Bool,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(window_start)
ORDER BY (citizen_id, window_start, other_id, place_id, rule_version);

CREATE MATERIALIZED VIEW IF NOT EXISTS contacts_by_citizen_mv TO contacts_by_citizen
AS SELECT pair.1 AS citizen_id, pair.2 AS other_id, place_id, rule_version, window_start, event_id,
          criterion, first_together, last_together, overlap_minutes, revision, retracted, ingested_at
FROM contacts
ARRAY JOIN [(citizen_a, citizen_b), (citizen_b, citizen_a)] AS pair;

-- One row per place and hour too crowded to pair up; tracing expands it to everyone present.
CREATE TABLE IF NOT EXISTS crowd_exposures
(
    event_id     String,
    place_id     String,
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    head_count   UInt32,
    rule_version LowCardinality(String),
    revision     UInt64,
    retracted    Bool,
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT place_id_length CHECK length(place_id) BETWEEN 1 AND 64,
    CONSTRAINT window_in_order CHECK window_start < window_end
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(window_start)
ORDER BY (place_id, window_start);

-- Events whose identity cannot be true. The id is whatever was sent (it failed the checks that
-- scans have), only bounded. Every content column is in the sorting key, as for scans: a
-- redelivered rejection collapses, while two events sharing an id with other content stay apart.
-- Time first: ops read "what was refused lately", by reason.
CREATE TABLE IF NOT EXISTS rejections
(
    event_id    String,
    source      LowCardinality(String),
    citizen_id  String,
    occurred_at DateTime64(3, 'UTC'),
    reason      LowCardinality(String),
    detail      String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT citizen_id_length CHECK lengthUTF8(citizen_id) <= 64,
    CONSTRAINT source_is_known CHECK source IN ('scan', 'declaration')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, reason, event_id, source, citizen_id, detail);
