"""Migrations on PostgreSQL: applied once, `calibd db migrate` / `db check`, and a database
that is newer than this calibd or broken refused at start-up (exit 3); the password from its
file, never shown."""

from __future__ import annotations

import pytest

from calibd.cli import main
from calibd.logs import configure_logging
from calibd.store.postgres.migrate import MIGRATIONS
from tests.support.postgres import PASSWORD_USER


@pytest.fixture
def cli_logging():
    """`main` logs to the test's captured stderr, closed after the test: logging is set back
    once capsys is gone (this fixture is set up before it, so torn down after it)."""
    yield
    configure_logging("json", "info")


@pytest.fixture
def calibd(cli_logging, tmp_path, capsys):
    """`calibd --set database.url=URL ARGS...` in this process: (exit code, stdout + stderr)."""

    def run(url: str, *args: str, password_file=None) -> tuple[int, str]:
        sets = ["--set", f"database.url={url}"]
        if password_file is not None:
            sets += ["--set", f"database.password_file={password_file}"]
        code = main(["--data-dir", str(tmp_path), *sets, *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    return run


def test_migrations_apply_once_and_a_newer_schema_is_refused(postgres, calibd):
    db = postgres.create_database("schema")
    url = postgres.url(db)
    code, out = calibd(url, "db", "check")
    assert code == 3 and "run `calibd db migrate`" in out  # empty: not migrated yet
    code, out = calibd(url, "db", "migrate")
    assert code == 0 and f"schema version {len(MIGRATIONS)}, ok" in out
    assert calibd(url, "db", "migrate")[0] == 0  # again: nothing to apply
    assert postgres.psql("SELECT count(*) FROM calibd_schema", db).strip() == str(len(MIGRATIONS))
    assert calibd(url, "db", "check") == (
        0,
        f"database {url}: schema version {len(MIGRATIONS)}, ok\n",
    )

    postgres.psql(f"INSERT INTO calibd_schema VALUES ({len(MIGRATIONS) + 1})", db)
    for args in (("db", "check"), ("db", "migrate"), ("status",)):
        code, out = calibd(url, *args)
        assert code == 3 and "newer than this calibd" in out, (args, out)


def test_a_database_missing_a_table_is_refused(postgres, calibd):
    db = postgres.create_database("broken")
    url = postgres.url(db)
    assert calibd(url, "db", "migrate")[0] == 0
    postgres.psql("DROP TABLE waits", db)
    for args in (("db", "check"), ("status",)):
        code, out = calibd(url, *args)
        assert code == 3 and "tables missing: waits" in out, (args, out)


def test_the_password_comes_from_its_file_and_is_never_shown(postgres, calibd, tmp_path):
    db = postgres.create_database("secret", owner=PASSWORD_USER)
    url = f"postgresql://{PASSWORD_USER}@127.0.0.1:{postgres.port}/{db}"
    secret = tmp_path / "password"
    secret.write_text(postgres.password + "\n")
    code, out = calibd(url, "db", "migrate", password_file=secret)
    assert code == 0 and postgres.password not in out
    code, out = calibd(url, "db", "check")  # no password: refused
    assert code == 3 and "password authentication failed" in out

    wrong = url.replace(f"{PASSWORD_USER}@", f"{PASSWORD_USER}:not-the-password-42@")
    code, out = calibd(wrong, "status")
    assert code == 3 and "not-the-password-42" not in out
    code, out = calibd(wrong.replace("not-the-password-42", postgres.password), "status")
    assert code == 0, out
    assert "<redacted>" in out and postgres.password not in out
