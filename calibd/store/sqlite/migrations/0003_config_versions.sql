-- Migration 3: configuration versions, each product records the version it was made with

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
