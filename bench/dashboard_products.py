"""The dashboard's products page on a large database: p50/p95 page times over HTTP.

Fills a fresh SQLite database with N products (8 types, 4 telescopes, categories A-C,
validity starts one minute apart, a realistic summary), serves it with `calibd web` as a
child process and requests a mix of product pages (first page, filters, "valid at t", deep
offsets) sequentially, each R times. Not a test.
Usage: python bench/dashboard_products.py [N] [R]   (default 100,000 products, 20 rounds)
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibd.store import Completion, ProductRecord, Store, format_time

TYPES = ["camera_calibration", "camera_pedestal", "irf", "aerosol_extinction",
         "molecular_extinction", "optical_throughput_muon", "cherenkov_transparency",
         "quality_assessment"]  # fmt: skip
START = datetime(2026, 1, 1, tzinfo=UTC)


def record(i: int) -> ProductRecord:
    start = START + timedelta(minutes=i)
    summary = {"faulty_fraction": 0.001 * (i % 7), "is_valid": True, "median_gain": [99.5, 5.1]}
    return ProductRecord(
        id=f"{i:08x}-0000-7000-8000-{i:012x}",
        product_type=TYPES[i % len(TYPES)],
        tel_id=1 + i % 4,
        category="ABC"[i % 3],
        valid_from=format_time(start),  # type: ignore[arg-type]
        valid_to=format_time(start + timedelta(hours=1)),
        created_at=format_time(start + timedelta(seconds=30)),  # type: ignore[arg-type]
        input_source="bench",
        input_event_id=f"e{i}",
        algorithm="bench",
        algorithm_version="1",
        config_hash="h",
        payload=json.dumps({"n": i, **summary}),
        summary=json.dumps(summary),
        arrays=None,
        provenance={
            "input_message": b"{}", "input_transport": "bench", "input_origin": "bench",
            "input_files": "[]", "algorithm": "bench", "algorithm_version": "1",
            "handler": "bench", "config": "{}", "config_hash": "h", "software": "{}",
            "host": "bench", "started_at": "1", "finished_at": "2",
        },
    )  # fmt: skip


async def fill(path: Path, n: int) -> None:
    async with Store(path) as store:
        for first in range(0, n, 1000):
            items = [
                Completion(
                    status="done",
                    transport="bench",
                    source="bench",
                    event_id=f"e{i}",
                    event_type="bench",
                    products=[record(i)],
                )
                for i in range(first, min(n, first + 1000))
            ]
            await store.commit(items)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    workdir = Path(tempfile.mkdtemp(prefix="calibd-bench-web-"))
    began = time.perf_counter()
    asyncio.run(fill(workdir / "calibd.sqlite", n))
    print(f"{n} products written in {time.perf_counter() - began:.1f} s")
    port = free_port()
    argv = [sys.executable, "-m", "calibd", "--data-dir", str(workdir), "web", "--port", str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    at = format_time(START + timedelta(minutes=n // 2))
    pages = [
        "/products",
        "/products?type=camera_calibration",
        "/products?type=irf&tel=2&category=B",
        f"/products?at={at}",
        f"/products?type=camera_calibration&tel=1&at={at}",
        "/products?since=2026-01-20T00:00:00Z&until=2026-01-21T00:00:00Z",
        "/products?all=1&limit=200&offset=50000",
        "/",
    ]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        every: list[float] = []
        for page in pages:
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=30) as r:
                    assert r.status == 200
                    r.read()
                times.append(time.perf_counter() - t0)
            every += times
            q = statistics.quantiles(times, n=20)
            p50, p95 = statistics.median(times) * 1e3, q[18] * 1e3
            print(f"{page:70s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        q = statistics.quantiles(every, n=20)
        print(f"all pages: p50 {statistics.median(every) * 1e3:.1f} ms, p95 {q[18] * 1e3:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
