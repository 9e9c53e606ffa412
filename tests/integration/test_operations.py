"""Operations: the systemd notify protocol, health and metrics, a stop with work in flight."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings, publish
from tests.support.brokers import free_port
from tests.support.daemon_process import DaemonProcess
from tests.support.ops_metrics import SYNTHETIC, exposed_names, used_names

pytestmark = pytest.mark.integration


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_notify_protocol_watchdog_health_and_metrics(mqtt, tmp_path, uid):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(20)
    port = free_port()
    settings = mqtt_settings(mqtt, uid, **{"operations.http_port": port, "instance": "ops-1"})
    stale = tmp_path / "calibd" / "scratch" / f"calibd-{_dead_pid()}-block-x"  # a killed run's
    stale.mkdir(parents=True)
    os.environ["NOTIFY_SOCKET"] = sock_path
    os.environ["WATCHDOG_USEC"] = "1000000"  # ping every 0.5 s
    try:
        daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    datagrams: list[str] = []
    try:
        while not any("READY=1" in d for d in datagrams):
            datagrams.append(sock.recv(4096).decode())
        assert sum("WATCHDOG=1" in sock.recv(4096).decode() for _ in range(3)) == 3
        assert not stale.exists()  # removed at start
        assert get(port, "/healthz") == (200, "ok\n")
        assert get(port, "/readyz") == (200, "ready\n")
        env = example("ctao.acada.weather")
        await publish(mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(env).encode())
        daemon.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
        code, metrics = get(port, "/metrics")
        assert code == 200
        me = 'calibd_instance="ops-1"'  # on every sample
        weather = 'type="ctao.acada.weather",outcome="done"'
        assert f"calibd_messages_total{{{me},{weather}}} 1" in metrics
        assert f'calibd_handler_duration_seconds_count{{{me},handler="echo_weather"}} 1' in metrics
        assert f"calibd_healthy{{{me}}} 1" in metrics
        assert f"calibd_waits_overdue{{{me}}} 0" in metrics
        assert re.search(
            r"^calibd_watchdog_ping_age_seconds\{" + me + r"\} [0-9.]+$", metrics, flags=re.M
        )
        samples = [line for line in metrics.splitlines() if not line.startswith("#")]
        assert samples and all(me in line for line in samples)
        # every series the shipped Grafana dashboard and alert rules use is one calibd exports
        assert used_names() - SYNTHETIC <= exposed_names(metrics)
        assert get(port, "/nope")[0] == 404
    finally:
        assert daemon.stop() == 0
    deadline = time.monotonic() + 10
    while not any("STOPPING=1" in d for d in datagrams) and time.monotonic() < deadline:
        datagrams.append(sock.recv(4096).decode())
    assert any("STOPPING=1" in d for d in datagrams)
    sock.close()


async def test_sigterm_with_work_in_flight_finishes_it_and_exits_zero(mqtt, tmp_path, uid):
    settings = mqtt_settings(
        mqtt, uid, **{"handlers.echo_weather.cpu_seconds": 2.0, "operations.shutdown_timeout_s": 30}
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    daemon.wait_msg("mqtt connected")
    await publish(
        mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(example("ctao.acada.weather")).encode()
    )
    daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 1)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 30
    assert len(daemon.query("SELECT id FROM products")) == 1
    assert daemon.query("SELECT COUNT(*) FROM inbox")[0][0] == 0


async def test_stop_past_the_deadline_leaves_the_message_for_the_next_start(mqtt, tmp_path, uid):
    slow = mqtt_settings(
        mqtt, uid, **{"handlers.echo_weather.cpu_seconds": 30.0, "operations.shutdown_timeout_s": 1}
    )
    daemon = DaemonProcess(tmp_path / "calibd", slow).start()
    daemon.wait_msg("mqtt connected")
    await publish(
        mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(example("ctao.acada.weather")).encode()
    )
    daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 1)
    await asyncio.sleep(0.5)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    assert daemon.query("SELECT COUNT(*) FROM products")[0][0] == 0  # nothing half-written
    assert daemon.query("SELECT COUNT(*) FROM inbox")[0][0] == 1  # kept for the next start

    quick = {**slow, "handlers.echo_weather.cpu_seconds": 0.0}
    again = DaemonProcess(tmp_path / "calibd", quick).start()
    try:
        again.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
        again.wait_msg("recovered messages from the inbox")
    finally:
        assert again.stop() == 0


def catches_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler (Linux: SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


@pytest.mark.parametrize("delay_s", [0.0, 0.3, 0.8, 1.5])
async def test_sigterm_during_start_up_is_a_clean_stop(mqtt, tmp_path, uid, delay_s):
    """A stop that comes while calibd is still importing, migrating or connecting exits 0
    (systemd's `systemctl stop` right after a start), and the next start works. The delays
    count from the moment the interpreter runs calibd's code (its SIGTERM handler is set)."""
    data = tmp_path / "calibd"
    daemon = DaemonProcess(data, mqtt_settings(mqtt, uid)).start()
    assert daemon.proc is not None
    deadline = time.monotonic() + 30
    while not catches_sigterm(daemon.proc.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(delay_s)
    assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()
    again = DaemonProcess(data, mqtt_settings(mqtt, uid)).start()
    try:
        again.wait_msg("mqtt connected")
    finally:
        assert again.stop() == 0
