"""The browser tests' fixtures: ONE headless Chromium for the session (Debian's `chromium`
driven through `chromium-driver` by Selenium), the demo's database with a hostile dead letter,
`calibd web` servers, and the artifacts folder for screenshots."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import free_port
from tests.support.daemon_process import REPO

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE_TITLE = "pwned"
# a message that is not JSON: dead-lettered as `malformed`, its raw bytes kept
HOSTILE = (
    b'{"specversion": "1.0", "id": "<script>document.title=\'pwned\'</script>'
    b'<img src=x onerror="document.title=\'pwned\'"><b id="injected">bold</b>'
    b'<a href="javascript:alert(1)">link</a>' + b"x" * 10_000 + b'", '
)


def calibd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "calibd", "--log-format", "json", *args],
        cwd=REPO,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """`calibd demo`'s data directory, plus a replayed message holding <script> and HTML, and
    Cat-C molecular extinction made by `calibd reprocess`, which supersedes the demo's."""
    workdir = tmp_path_factory.mktemp("demo")
    done = calibd("demo", "--keep", str(workdir))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    hostile = workdir / "hostile.jsonl"
    hostile.write_bytes(HOSTILE + b"\n")
    replayed = calibd("--data-dir", str(workdir), "replay", str(hostile))
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    period = ["--start", "2026-11-24T00:00:00Z", "--end", "2026-11-26T00:00:00Z"]
    redone = calibd(
        "--data-dir", str(workdir), "reprocess", *period, "--type", "molecular_extinction"
    )
    assert redone.returncode == 0, redone.stderr[-2000:]
    return workdir


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(DRIVER).exists(), (
        "chromium and chromium-driver are needed (scripts/test.sh installs them)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def start_listening(argv: list[str], log: Path, port: int, timeout: float = 60) -> subprocess.Popen:
    """`argv` (a calibd command serving on 127.0.0.1:`port`) started, its output in `log`,
    once it listens."""
    with log.open("ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_listening("127.0.0.1", port, proc, timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def wait_listening(host: str, port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"calibd web exited with {proc.returncode}"
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port}")


class WebServer:
    """`calibd web` on a database, as a child process."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.log = host, free_port(), data_dir / f"web-{host}.log"
        argv = [sys.executable, "-m", "calibd", "--data-dir", str(data_dir), "web"]
        argv += ["--port", str(self.port)] + (["--host", host] if host != "127.0.0.1" else [])
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        wait_listening(host, self.port, self.proc)
        self.url = f"http://{host}:{self.port}"

    def stop(self) -> int:
        """SIGTERM; its exit code (0: it stopped as a service should)."""
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="module")
def web(demo_dir) -> Iterator[WebServer]:
    server = WebServer(demo_dir)
    yield server
    assert server.stop() == 0  # SIGTERM: a clean stop, not death by the signal
    assert "Traceback" not in server.log.read_text()


def request(url: str, method: str = "GET", path: str = "/") -> tuple[int, dict, bytes]:
    host, _, port = url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
