"""Migrations on PostgreSQL: applied once, `calibd db migrate` / `db check`, and a database
that is newer than this calibd or broken refused at start-up (exit 3)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from calibd.errors import StoreError
from calibd.store.postgres import PostgresStore
from calibd.store.postgres.migrate import MIGRATIONS


def calibd(tmp_path, url: str, *args: str, password_file=None) -> subprocess.CompletedProcess:
    sets = ["--set", f"database.url={url}"]
    if password_file is not None:
        sets += ["--set", f"database.password_file={password_file}"]
    return subprocess.run(
        [sys.executable, "-m", "calibd", "--data-dir", str(tmp_path), *sets, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_migrations_apply_once_and_a_newer_schema_is_refused(postgres, tmp_path):
    db = postgres.create_database("schema")
    url = postgres.url(db)
    assert calibd(tmp_path, url, "db", "check").returncode == 3  # empty: not migrated yet
    done = calibd(tmp_path, url, "db", "migrate")
    assert done.returncode == 0, done.stderr
    assert f"schema version {len(MIGRATIONS)}, ok" in done.stdout
    async with PostgresStore(url) as store:  # opened again: nothing applied twice
        assert await store.schema_version() == len(MIGRATIONS)
    assert postgres.psql("SELECT count(*) FROM calibd_schema", db).strip() == str(len(MIGRATIONS))
    assert calibd(tmp_path, url, "db", "check").returncode == 0

    postgres.psql(f"INSERT INTO calibd_schema VALUES ({len(MIGRATIONS) + 1})", db)
    with pytest.raises(StoreError, match="newer than this calibd"):
        await PostgresStore(url).open()
    for args in (("db", "check"), ("db", "migrate"), ("status",)):
        refused = calibd(tmp_path, url, *args)
        assert refused.returncode == 3, (args, refused.stderr)
        assert "newer than this calibd" in refused.stderr


async def test_a_database_missing_a_table_is_refused(postgres, tmp_path):
    db = postgres.create_database("broken")
    url = postgres.url(db)
    async with PostgresStore(url):
        pass
    postgres.psql("DROP TABLE waits", db)
    with pytest.raises(StoreError, match="tables missing: waits"):
        await PostgresStore(url).open()
    refused = calibd(tmp_path, url, "status")
    assert refused.returncode == 3 and "tables missing: waits" in refused.stderr


def test_the_password_comes_from_its_file_and_is_never_shown(postgres, tmp_path):
    from tests.support.postgres import PASSWORD_USER

    db = postgres.create_database("secret", owner=PASSWORD_USER)
    url = f"postgresql://{PASSWORD_USER}@127.0.0.1:{postgres.port}/{db}"
    secret = tmp_path / "password"
    secret.write_text(postgres.password + "\n")
    done = calibd(tmp_path, url, "db", "migrate", password_file=secret)
    assert done.returncode == 0, done.stderr
    assert postgres.password not in done.stdout + done.stderr
    assert calibd(tmp_path, url, "db", "check").returncode == 3  # no password: refused

    wrong = url.replace(f"{PASSWORD_USER}@", f"{PASSWORD_USER}:not-the-password-42@")
    refused = calibd(tmp_path, wrong, "status")
    assert refused.returncode == 3
    assert "not-the-password-42" not in refused.stdout + refused.stderr
    shown = calibd(tmp_path, wrong.replace("not-the-password-42", postgres.password), "status")
    assert shown.returncode == 0, shown.stderr
    assert "<redacted>" in shown.stdout and postgres.password not in shown.stdout + shown.stderr
