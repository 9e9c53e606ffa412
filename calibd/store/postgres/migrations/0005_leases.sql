-- Migration 5 (SQLite's 12): named leases (e.g. scanning the ACADA trigger directories): one
-- holder at a time until the lease expires, so a standby instance takes over when the holder
-- dies.
CREATE TABLE leases (
    name    text PRIMARY KEY,
    holder  text NOT NULL,
    until   timestamptz NOT NULL
);
