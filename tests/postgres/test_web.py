"""`calibd web` on a PostgreSQL database (`database.url`): the dashboard lists what the shared
database holds, it never migrates it, and SIGTERM stops it with exit code 0."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from calibd.store.postgres import PostgresStore
from tests.browser.conftest import request, start_listening
from tests.store_contract.records import done, ft, product
from tests.support.brokers import free_port
from tests.support.daemon_process import REPO

pytestmark = pytest.mark.integration


async def _one_product(url: str) -> None:
    async with PostgresStore(url) as store:
        await store.commit([done("e1", product("p-web-1", "B", ft("2026-01-01T00:00:00")))])


def _argv(tmp_path, url: str, port: int) -> list[str]:
    return [sys.executable, "-m", "calibd", "--data-dir", str(tmp_path), "--set",
            f"database.url={json.dumps(url)}", "web", "--port", str(port)]  # fmt: skip


def test_the_dashboard_serves_a_postgresql_database(postgres, tmp_path):
    url = postgres.url(postgres.create_database("web"))
    asyncio.run(_one_product(url))
    port = free_port()
    log = tmp_path / "web.log"
    proc = start_listening(_argv(tmp_path, url, port), log, port)
    try:
        status, _, body = request(f"http://127.0.0.1:{port}", path="/products")
        assert status == 200 and b"p-web-1" in body
        assert request(f"http://127.0.0.1:{port}", path="/products/p-web-1")[0] == 200
    finally:
        proc.terminate()
        code = proc.wait(20)
    assert code == 0, log.read_text()[-2000:]


def test_an_empty_postgresql_database_is_refused_not_migrated(postgres, tmp_path):
    db = postgres.create_database("webempty")
    argv = _argv(tmp_path, postgres.url(db), free_port())
    done_ = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done_.returncode == 3, done_.stderr
    tables = postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", db)
    assert tables.strip() == "0"
