"""Versioned schema of the CalibPipe database. `PRAGMA user_version` holds the applied version.

Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 1: the core tables
    """
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
    """,
    # 2: waits - a message whose outcome waits for another product or event
    """
    CREATE TABLE waits (
        id               INTEGER PRIMARY KEY,
        handler          TEXT NOT NULL,
        kind             TEXT NOT NULL,
        key              TEXT NOT NULL,
        status           TEXT NOT NULL
                         CHECK (status IN ('pending', 'ready', 'completed', 'expired', 'failed')),
        deadline         TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        event_source     TEXT NOT NULL,
        event_id         TEXT NOT NULL,
        input_message    BLOB NOT NULL,
        input_transport  TEXT NOT NULL,
        input_origin     TEXT NOT NULL,
        state            TEXT NOT NULL,
        resolved_by      TEXT,
        finished_at      TEXT,
        detail           TEXT
    );
    CREATE INDEX waits_pending ON waits (kind, key) WHERE status = 'pending';
    CREATE INDEX waits_deadline ON waits (deadline) WHERE status = 'pending';
    CREATE INDEX waits_ready ON waits (id) WHERE status = 'ready';
    """,
    # 3: configuration versions; each product records the version it was made with
    """
    CREATE TABLE config_versions (
        version       INTEGER PRIMARY KEY,
        created_at    TEXT NOT NULL,
        requested_by  TEXT NOT NULL,
        reason        TEXT NOT NULL,
        event_id      TEXT UNIQUE,
        changes       TEXT NOT NULL,
        overlay       TEXT NOT NULL,
        effective     TEXT NOT NULL,
        config_hash   TEXT NOT NULL
    );
    ALTER TABLE products ADD COLUMN config_version INTEGER;
    """,
    # 4: the category in the validity index, so supersession by category stays one index probe
    #    when many products share type, telescope and validity start
    """
    DROP INDEX products_valid_at;
    CREATE INDEX products_valid_key
        ON products (product_type, tel_id, status, valid_from, category);
    """,
    # 5: retries of resume/expire hooks back off like message retries
    """
    ALTER TABLE waits ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE waits ADD COLUMN retry_at TEXT;
    """,
    # 6: inbox ids are never reused (AUTOINCREMENT): an MQTT message's dead letter is keyed by
    #    its inbox id, and a reused id made the next poison message's dead letter a no-op. The
    #    sequence starts past every id already used by a dead letter.
    """
    CREATE TABLE inbox_v6 (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        transport    TEXT NOT NULL,
        origin       TEXT NOT NULL,
        payload      BLOB NOT NULL,
        headers      TEXT,
        received_at  TEXT NOT NULL
    );
    INSERT INTO inbox_v6 (id, transport, origin, payload, headers, received_at)
        SELECT id, transport, origin, payload, headers, received_at FROM inbox;
    DROP TABLE inbox;
    ALTER TABLE inbox_v6 RENAME TO inbox;
    DELETE FROM sqlite_sequence WHERE name IN ('inbox', 'inbox_v6');
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'inbox', MAX(used) FROM (
            SELECT COALESCE(MAX(id), 0) AS used FROM inbox
            UNION ALL
            SELECT COALESCE(MAX(CAST(substr(origin_key, instr(origin_key, ':inbox:') + 7)
                                     AS INTEGER)), 0)
            FROM dead_letters WHERE origin_key LIKE '%:inbox:%'
        );
    """,
    # 7: a notification a sink refuses for good (too large, invalid) is recorded failed, with
    #    the reason in last_error, and is no longer pending
    """
    ALTER TABLE outbox_deliveries ADD COLUMN failed_at TEXT;
    DROP INDEX outbox_pending;
    CREATE INDEX outbox_pending ON outbox_deliveries (sink)
        WHERE delivered_at IS NULL AND failed_at IS NULL;
    """,
    # 8: the content digest of each processed event, so a redelivery with the same source and
    #    id but other content is told apart from a duplicate (NULL: recorded before this)
    """
    ALTER TABLE processed ADD COLUMN digest TEXT;
    """,
]
