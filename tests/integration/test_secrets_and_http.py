"""Secrets never printed; the HTTP endpoint bounded against hostile clients (real processes)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings, publish
from tests.integration.test_operations import get
from tests.support.brokers import free_port
from tests.support.daemon_process import REPO, DaemonProcess

pytestmark = pytest.mark.integration


def calibd(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "calibd", "--data-dir", str(tmp_path), *args, "status"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "key"),
    [
        (["--set", "mqtt.password=Cmdline-S3cret"], {}, "mqtt.password"),
        ([], {"CALIBD_MQTT__PASSWORD": "Env-S3cret"}, "mqtt.password"),
        ([], {"CALIBD_KAFKA__SASL_PASSWORD": "Env-Sasl-S3cret"}, "kafka.sasl_password"),
        (["--set", 'kafka={"sasl_password": "Json-S3cret", "x": 1}'], {}, "kafka.sasl_password"),
        ([], {"CALIBD_MQTT": '{"password": "EnvJson-S3cret", "port": "x"}'}, "mqtt.password"),
        (["--set", "mqtt.password.deeper=Dotted-S3cret"], {}, "mqtt.password"),
        (
            ["--set", "mqtt.password_file=/nonexistent", "--set", "mqtt.token=Tok-S3cret"],
            {},
            "mqtt.token",
        ),
    ],
)
def test_a_secret_given_on_the_command_line_or_environment_is_never_printed(
    tmp_path, args, env, key
):
    result = calibd(tmp_path, *args, env=env)
    secret = re.search(r"[A-Za-z-]+S3cret", " ".join([*args, *env.values()]))[0]
    assert result.returncode == 2, result.stderr
    assert key in result.stderr  # the key is named...
    assert secret not in result.stderr + result.stdout  # ...its value never shown
    assert "Traceback" not in result.stderr


def test_an_environment_section_that_is_not_json_is_a_configuration_error(tmp_path):
    result = calibd(tmp_path, env={"CALIBD_MQTT": '{"password": "Broken-S3cret"'})
    assert result.returncode == 2 and "mqtt" in result.stderr
    assert "Broken-S3cret" not in result.stderr and "Traceback" not in result.stderr


def exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection, half-close, return what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


HOSTILE = [
    (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", 400),  # 100 kB request line
    (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n", 431),  # one huge header
    (b"GET /healthz HTTP/1.1\r\n" + b"X-Many: y\r\n" * 5000 + b"\r\n", 431),  # 5,000 headers
    (bytes(range(256)) * 4 + b"\r\n\r\n", 400),  # garbage
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 400),  # head cut short
    (b"\r\n\r\n", 400),
]


async def test_hostile_http_clients_get_400_or_431_and_the_daemon_keeps_serving(
    mqtt, tmp_path, uid
):
    secret = "Mqtt-Pa55word-" + uid
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(secret + "\n")
    port = free_port()
    settings = mqtt_settings(
        mqtt,
        uid,
        **{
            "operations.http_port": port,
            "mqtt.username": "calibd",
            "mqtt.password_file": str(password_file),
            "logging.level": "debug",
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_msg("health endpoint listening")
        daemon.wait_msg("mqtt connected")
        slow = socket.create_connection(("127.0.0.1", port), timeout=15)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        for data, code in HOSTILE:
            answer = exchange(port, data)
            assert answer.startswith(f"HTTP/1.0 {code} ".encode()), (data[:40], answer[:80])
        assert get(port, "/healthz") == (200, "ok\n")  # while the slow client hangs on
        assert slow.recv(1024) == b""  # dropped without an answer once the head times out
        assert 4.0 < time.monotonic() - started < 10.0
        slow.close()
        env = example("ctao.acada.weather")
        await publish(mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(env).encode())
        daemon.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
    finally:
        assert daemon.stop() == 0
    lines = daemon.log_lines()
    refused = [e for e in lines if e.get("msg") == "http request refused"]
    assert [e["code"] for e in refused] == [code for _, code in HOSTILE]  # one line each
    text = daemon.log.read_text()
    assert "Traceback" not in text and "Unhandled exception" not in text
    assert "exception was never retrieved" not in text
    assert secret not in text  # the password read from its file is never logged
