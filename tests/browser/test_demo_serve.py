"""`calibd demo --serve PORT` runs the demo, then serves the dashboard on its database."""

from __future__ import annotations

import sys

from tests.browser.conftest import request, start_listening
from tests.support.brokers import free_port


def test_demo_serve_opens_the_dashboard_on_the_demos_database(tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "calibd", "demo", "--keep", str(tmp_path), "--serve", str(port)]
    log = tmp_path / "demo.log"
    proc = start_listening(argv, log, port, timeout=120)
    try:
        status, _, body = request(f"http://127.0.0.1:{port}", path="/products?type=irf")
        assert status == 200 and body.count(b'<tr class="product">') == 1
        assert str(tmp_path / "calibd.sqlite").encode() in request(f"http://127.0.0.1:{port}")[2]
    finally:
        proc.terminate()  # a clean stop: exit 0, not death by the signal
        assert proc.wait(20) == 0, log.read_text()[-2000:]
    assert f"dashboard: http://127.0.0.1:{port}/" in log.read_text()
