-- Migration 2 (SQLite's 9): the dashboard lists products newest first in pages: an index in that
-- order, so a page is read from the index instead of sorting every product.
CREATE INDEX products_created ON products (created_at, id);
