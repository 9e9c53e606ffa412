-- Migration 8: the content digest of each processed event, so a redelivery with the same source
-- and id but other content is told apart from a duplicate (NULL: recorded before this)

    ALTER TABLE processed ADD COLUMN digest TEXT;
