-- Migration 3 (SQLite's 10): a relay claims the rows it publishes (by holder, until a time), so
-- relays of several instances publish each notification one at a time, and a dead holder's claims
-- expire.
ALTER TABLE outbox_deliveries ADD COLUMN claimed_by text;
ALTER TABLE outbox_deliveries ADD COLUMN claimed_until timestamptz;
