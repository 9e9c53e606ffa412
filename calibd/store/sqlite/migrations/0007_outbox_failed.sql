-- Migration 7: a notification a sink refuses for good (too large, invalid) is recorded failed,
-- with the reason in last_error, and is no longer pending

    ALTER TABLE outbox_deliveries ADD COLUMN failed_at TEXT;
    DROP INDEX outbox_pending;
    CREATE INDEX outbox_pending ON outbox_deliveries (sink)
        WHERE delivered_at IS NULL AND failed_at IS NULL;
