-- Migration 4: the category in the validity index, so supersession by category stays one index
-- probe when many products share type, telescope and validity start

    DROP INDEX products_valid_at;
    CREATE INDEX products_valid_key
        ON products (product_type, tel_id, status, valid_from, category);
