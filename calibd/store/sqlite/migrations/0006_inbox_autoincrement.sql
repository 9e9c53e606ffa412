-- Migration 6: inbox ids are never reused (AUTOINCREMENT): an MQTT message's dead letter is keyed
-- by its inbox id, and a reused id made the next poison message's dead letter a no-op. The
-- sequence starts past every id already used by a dead letter.

    CREATE TABLE inbox_v6 (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        transport    TEXT NOT NULL,
        origin       TEXT NOT NULL,
        payload      BLOB NOT NULL,
        headers      TEXT,
        received_at  TEXT NOT NULL
    );
    INSERT INTO inbox_v6 (id, transport, origin, payload, headers, received_at)
        SELECT id, transport, origin, payload, headers, received_at FROM inbox;
    DROP TABLE inbox;
    ALTER TABLE inbox_v6 RENAME TO inbox;
    DELETE FROM sqlite_sequence WHERE name IN ('inbox', 'inbox_v6');
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'inbox', MAX(used) FROM (
            SELECT COALESCE(MAX(id), 0) AS used FROM inbox
            UNION ALL
            SELECT COALESCE(MAX(CAST(substr(origin_key, instr(origin_key, ':inbox:') + 7)
                                     AS INTEGER)), 0)
            FROM dead_letters WHERE origin_key LIKE '%:inbox:%'
        );
