-- Migration 1: the whole schema as SQLite's migrations 1-8 leave it, with times as timestamptz,
-- blobs as bytea and JSON as text (decoded by the store, as in SQLite)

CREATE TABLE processed (
    source       text NOT NULL,
    event_id     text NOT NULL,
    event_type   text,
    status       text NOT NULL CHECK (status IN ('done', 'dead', 'ignored')),
    transport    text NOT NULL,
    product_ids  text NOT NULL DEFAULT '[]',
    finished_at  timestamptz NOT NULL,
    digest       text,
    PRIMARY KEY (source, event_id)
);

CREATE TABLE inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transport    text NOT NULL,
    origin       text NOT NULL,
    payload      bytea NOT NULL,
    headers      text,
    received_at  timestamptz NOT NULL
);

CREATE TABLE config_versions (
    version       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    requested_by  text NOT NULL,
    reason        text NOT NULL,
    event_id      text UNIQUE,
    changes       text NOT NULL,
    overlay       text NOT NULL,
    effective     text NOT NULL,
    config_hash   text NOT NULL
);

CREATE TABLE products (
    id                 text PRIMARY KEY,
    product_type       text NOT NULL,
    tel_id             integer,
    category           text NOT NULL CHECK (category IN ('A', 'B', 'C')),
    valid_from         timestamptz NOT NULL,
    valid_to           timestamptz,
    status             text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'superseded')),
    superseded_by      text REFERENCES products (id),
    created_at         timestamptz NOT NULL,
    input_source       text NOT NULL,
    input_event_id     text NOT NULL,
    algorithm          text NOT NULL,
    algorithm_version  text NOT NULL,
    config_hash        text NOT NULL,
    payload            text NOT NULL,
    summary            text NOT NULL,
    arrays             bytea,
    config_version     bigint
);
CREATE INDEX products_valid_key ON products (product_type, tel_id, status, valid_from, category);
CREATE INDEX products_input ON products (input_source, input_event_id);
CREATE INDEX products_id_prefix ON products (id text_pattern_ops);

CREATE TABLE provenance (
    product_id         text PRIMARY KEY REFERENCES products (id),
    input_message      bytea NOT NULL,
    input_transport    text NOT NULL,
    input_origin       text NOT NULL,
    input_files        text NOT NULL,
    algorithm          text NOT NULL,
    algorithm_version  text NOT NULL,
    handler            text NOT NULL,
    config             text NOT NULL,
    config_hash        text NOT NULL,
    software           text NOT NULL,
    host               text NOT NULL,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL
);

CREATE TABLE outbox (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    event_type   text NOT NULL,
    channel      text NOT NULL,
    subtopic     text,
    key          text,
    envelope     bytea NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE TABLE outbox_deliveries (
    event_id      text NOT NULL REFERENCES outbox (event_id),
    sink          text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    delivered_at  timestamptz,
    failed_at     timestamptz,
    PRIMARY KEY (event_id, sink)
);
CREATE INDEX outbox_pending ON outbox_deliveries (sink)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin_key    text NOT NULL UNIQUE,
    transport     text NOT NULL,
    origin        text NOT NULL,
    received_at   timestamptz NOT NULL,
    event_id      text,
    event_type    text,
    event_source  text,
    reason        text NOT NULL,
    detail        text NOT NULL,
    payload       bytea NOT NULL,
    headers       text,
    status        text NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'retried')),
    retried_at    timestamptz
);
CREATE INDEX dead_letters_reason ON dead_letters (reason);

CREATE TABLE waits (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handler          text NOT NULL,
    kind             text NOT NULL,
    key              text NOT NULL,
    status           text NOT NULL
                     CHECK (status IN ('pending', 'ready', 'completed', 'expired', 'failed')),
    deadline         timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    event_source     text NOT NULL,
    event_id         text NOT NULL,
    input_message    bytea NOT NULL,
    input_transport  text NOT NULL,
    input_origin     text NOT NULL,
    state            text NOT NULL,
    resolved_by      text,
    finished_at      timestamptz,
    detail           text,
    attempts         integer NOT NULL DEFAULT 0,
    retry_at         timestamptz
);
CREATE INDEX waits_pending ON waits (kind, key) WHERE status = 'pending';
CREATE INDEX waits_deadline ON waits (deadline) WHERE status = 'pending';
CREATE INDEX waits_ready ON waits (id) WHERE status = 'ready';
CREATE INDEX waits_retry ON waits (event_source, event_id) WHERE kind = 'retry';
