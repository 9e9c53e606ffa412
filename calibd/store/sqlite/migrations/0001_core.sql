-- Migration 1: the core tables

    CREATE TABLE processed (
        source       TEXT NOT NULL,
        event_id     TEXT NOT NULL,
        event_type   TEXT,
        status       TEXT NOT NULL CHECK (status IN ('done', 'dead', 'ignored')),
        transport    TEXT NOT NULL,
        product_ids  TEXT NOT NULL DEFAULT '[]',
        finished_at  TEXT NOT NULL,
        PRIMARY KEY (source, event_id)
    ) WITHOUT ROWID;

    CREATE TABLE inbox (
        id           INTEGER PRIMARY KEY,
        transport    TEXT NOT NULL,
        origin       TEXT NOT NULL,
        payload      BLOB NOT NULL,
        headers      TEXT,
        received_at  TEXT NOT NULL
    );

    CREATE TABLE products (
        id                 TEXT PRIMARY KEY,
        product_type       TEXT NOT NULL,
        tel_id             INTEGER,
        category           TEXT NOT NULL CHECK (category IN ('A', 'B', 'C')),
        valid_from         TEXT NOT NULL,
        valid_to           TEXT,
        status             TEXT NOT NULL DEFAULT 'valid'
                           CHECK (status IN ('valid', 'superseded')),
        superseded_by      TEXT REFERENCES products (id),
        created_at         TEXT NOT NULL,
        input_source       TEXT NOT NULL,
        input_event_id     TEXT NOT NULL,
        algorithm          TEXT NOT NULL,
        algorithm_version  TEXT NOT NULL,
        config_hash        TEXT NOT NULL,
        payload            TEXT NOT NULL,
        summary            TEXT NOT NULL,
        arrays             BLOB
    );
    CREATE INDEX products_valid_at ON products (product_type, tel_id, status, valid_from);
    CREATE INDEX products_input ON products (input_source, input_event_id);

    CREATE TABLE provenance (
        product_id         TEXT PRIMARY KEY REFERENCES products (id),
        input_message      BLOB NOT NULL,
        input_transport    TEXT NOT NULL,
        input_origin       TEXT NOT NULL,
        input_files        TEXT NOT NULL,
        algorithm          TEXT NOT NULL,
        algorithm_version  TEXT NOT NULL,
        handler            TEXT NOT NULL,
        config             TEXT NOT NULL,
        config_hash        TEXT NOT NULL,
        software           TEXT NOT NULL,
        host               TEXT NOT NULL,
        started_at         TEXT NOT NULL,
        finished_at        TEXT NOT NULL
    );

    CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY,
        event_id     TEXT NOT NULL UNIQUE,
        event_type   TEXT NOT NULL,
        channel      TEXT NOT NULL,
        subtopic     TEXT,
        key          TEXT,
        envelope     BLOB NOT NULL,
        created_at   TEXT NOT NULL
    );

    CREATE TABLE outbox_deliveries (
        event_id      TEXT NOT NULL REFERENCES outbox (event_id),
        sink          TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        delivered_at  TEXT,
        PRIMARY KEY (event_id, sink)
    ) WITHOUT ROWID;
    CREATE INDEX outbox_pending ON outbox_deliveries (sink) WHERE delivered_at IS NULL;

    CREATE TABLE dead_letters (
        id            INTEGER PRIMARY KEY,
        origin_key    TEXT NOT NULL UNIQUE,
        transport     TEXT NOT NULL,
        origin        TEXT NOT NULL,
        received_at   TEXT NOT NULL,
        event_id      TEXT,
        event_type    TEXT,
        event_source  TEXT,
        reason        TEXT NOT NULL,
        detail        TEXT NOT NULL,
        payload       BLOB NOT NULL,
        headers       TEXT,
        status        TEXT NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'retried')),
        retried_at    TEXT
    );
    CREATE INDEX dead_letters_reason ON dead_letters (reason);
