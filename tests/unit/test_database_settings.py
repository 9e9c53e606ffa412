"""`database.*` settings: the backend they open, TLS options, the password from its file and
never shown; `calibd db migrate` / `db check` on SQLite."""

from __future__ import annotations

import sqlite3

import pytest

from calibd.cli import main
from calibd.config import load_settings
from calibd.errors import ConfigurationError
from calibd.logs import configure_logging
from calibd.redact import redacted_url
from calibd.store.factory import database_shown, make_store, postgres_dsn
from calibd.store.postgres import PostgresStore
from calibd.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@h:5432/db", "postgresql://u:<redacted>@h:5432/db"),
        ("postgresql://u@h/db?password=s3cret&x=1", "postgresql://u@h/db?password=<redacted>&x=1"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_a_urls_password_is_redacted(url, shown):
    assert redacted_url(url) == shown


def test_the_settings_open_sqlite_by_default_and_postgres_for_a_url(tmp_path):
    default = load_settings(None, {"data_dir": str(tmp_path)})
    store = make_store(default)
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "calibd.sqlite"
    assert database_shown(default) == str(tmp_path / "calibd.sqlite")

    secret = tmp_path / "pw"
    secret.write_text("s3cret-pw\n")
    settings = load_settings(
        None,
        {
            "data_dir": str(tmp_path),
            "database": {
                "url": "postgresql://calibd:inline-pw@db.example:5433/calib",
                "password_file": str(secret),
                "sslmode": "verify-full",
                "sslrootcert": "/etc/ca.pem",
                "busy_timeout_ms": 250,
            },
        },
    )
    pg = make_store(settings)
    assert isinstance(pg, PostgresStore)
    assert pg.password == "s3cret-pw" and pg.busy_timeout_ms == 250
    assert postgres_dsn(settings) == (
        "postgresql://calibd:inline-pw@db.example:5433/calib"
        "?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
    )
    dumped = settings.model_dump_json()
    assert "inline-pw" not in dumped and "s3cret-pw" not in dumped
    assert "postgresql://calibd:<redacted>@db.example:5433/calib" in dumped
    assert "inline-pw" not in database_shown(settings) + pg.shown


def test_a_bad_url_is_refused_without_its_password(tmp_path):
    with pytest.raises(ConfigurationError, match="database.url") as caught:
        load_settings(None, {"database": {"url": "mysql://u:hunter22@h/db"}})
    assert "hunter22" not in str(caught.value)


@pytest.fixture
def cli_logging():
    """`main` logs to the test's captured stderr, closed after the test: logging is set back
    once capsys is gone (requested before it, so torn down after it)."""
    yield
    configure_logging("json", "info")


def test_db_migrate_and_check_on_sqlite(cli_logging, tmp_path, capsys):
    args = ["--data-dir", str(tmp_path), "db"]
    assert main([*args, "check"]) == 3  # no database yet
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "calibd.sqlite").exists()  # a check creates nothing
    assert main([*args, "migrate"]) == 0
    assert "schema version" in capsys.readouterr().out
    assert main([*args, "check"]) == 0
    with sqlite3.connect(tmp_path / "calibd.sqlite") as conn:
        conn.execute("PRAGMA user_version=999")
    assert main([*args, "check"]) == 3
    assert "newer than this calibd" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path), "status"]) == 3  # start-up refuses it too
