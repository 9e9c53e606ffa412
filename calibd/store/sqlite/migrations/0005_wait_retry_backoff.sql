-- Migration 5: retries of resume/expire hooks back off like message retries

    ALTER TABLE waits ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE waits ADD COLUMN retry_at TEXT;
