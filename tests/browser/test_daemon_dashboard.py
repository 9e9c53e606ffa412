"""The running daemon serves the dashboard on `operations.http_port`, beside /healthz: in a
real browser, GET and HEAD only, bound where configured."""

from __future__ import annotations

import json
import socket

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import request
from tests.browser.test_dashboard import visit
from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings, publish
from tests.support.brokers import free_port
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


async def test_the_daemon_serves_the_dashboard_beside_its_health(
    mqtt, tmp_path, uid, browser, artifacts
):
    port = free_port()
    daemon = DaemonProcess(
        tmp_path / "calibd", mqtt_settings(mqtt, uid, **{"operations.http_port": port})
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        daemon.wait_msg("mqtt connected")
        env = example("ctao.acada.weather")
        await publish(mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(env).encode())
        rows = daemon.wait_query("SELECT id, product_type FROM products", lambda r: len(r) == 1)
        product_id, product_type = rows[0]
        assert request(url, path="/healthz")[::2] == (200, b"ok\n")
        assert visit(browser, url + "/", artifacts, "daemon-overview") == []
        assert browser.find_element(By.ID, "health").text == "healthy: ok"
        live = browser.find_element(By.ID, "live").text
        assert "messages done 1" in live and "sources mqtt" in live
        assert visit(browser, f"{url}/products/{product_id}", artifacts, "daemon-product") == []
        assert browser.find_element(By.ID, "product-type").text == product_type
        status, headers, body = request(url, "HEAD", "/products")
        assert status == 200 and body == b"" and headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in headers["content-security-policy"]
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            assert request(url, method, "/products")[0] == 405
            assert request(url, method, "/healthz")[0] == 405
        assert request(url, path="/products?limit=-1")[0] == 400
        assert request(url, path="/nope")[0] == 404
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
    finally:
        assert daemon.stop() == 0
    text = daemon.log.read_text()
    assert "Traceback" not in text and "dashboard failed" not in text
