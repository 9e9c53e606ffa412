-- Migration 13: each inbox row names the instance that received it. An instance recovers only
-- its own rows at start, and takes over another's when that instance's `inbox:<name>` lease
-- has expired. Rows written before (no owner) are recovered by whichever instance starts.
ALTER TABLE inbox ADD COLUMN owner TEXT;
