-- Migration 2: waits - a message whose outcome waits for another product or event

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
