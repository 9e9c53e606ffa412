-- Migration 12: named leases (e.g. scanning the ACADA trigger directories): one holder at a
-- time until the lease expires, so a standby instance takes over when the holder dies.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   TEXT NOT NULL
);
