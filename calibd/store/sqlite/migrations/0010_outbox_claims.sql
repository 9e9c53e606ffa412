-- Migration 10: a relay claims the rows it publishes (by holder, until a time), so relays of
-- several instances publish each notification one at a time, and a dead holder's claims expire.
ALTER TABLE outbox_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox_deliveries ADD COLUMN claimed_until TEXT;
