-- Migration 11: the waits loop claims the due waits it acts on (by holder, until a time), so the
-- loops of several instances act on each wait one at a time, and a dead holder's claims expire.
ALTER TABLE waits ADD COLUMN claimed_by TEXT;
ALTER TABLE waits ADD COLUMN claimed_until TEXT;
