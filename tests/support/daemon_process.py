"""calibd run as a real child process, as systemd would run it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class DaemonProcess:
    def __init__(self, data_dir: Path, settings: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.log = data_dir / "calibd.log"
        self.proc: subprocess.Popen | None = None
        self.log_offset = 0  # where this start's lines begin in the shared log file

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "calibd", "--data-dir", str(self.data_dir)]
        for key, value in self.settings.items():
            args += ["--set", f"{key}={json.dumps(value)}"]
        return [*args, "run"]

    def start(self) -> DaemonProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        fh = self.log.open("ab")
        self.log_offset = fh.tell()
        self.proc = subprocess.Popen(
            self.argv(), stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )
        return self

    def log_lines(self, every_start: bool = False) -> list[dict[str, Any]]:
        """The log lines of this start (of every start with `every_start`), parsed."""
        out = []
        with self.log.open("rb") as fh:
            fh.seek(0 if every_start else self.log_offset)
            text = fh.read().decode(errors="replace")
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"msg": line})
        return out

    def wait_log(self, predicate, timeout: float = 30.0, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_lines():
                if predicate(entry):
                    return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"calibd exited ({self.proc.returncode}):\n{self.tail()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or predicate}:\n{self.tail()}")

    def wait_msg(self, msg: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_log(lambda e: e.get("msg") == msg, timeout, msg)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text().splitlines()[-n:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.data_dir / 'calibd.sqlite'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self.db() as conn:
            return conn.execute(sql, params).fetchall()

    def wait_query(self, sql: str, check, timeout: float = 30.0, params: tuple = ()):
        deadline = time.monotonic() + timeout
        rows = None
        while time.monotonic() < deadline:
            try:
                rows = self.query(sql, params)
                if check(rows):
                    return rows
            except sqlite3.OperationalError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"calibd exited ({self.proc.returncode}):\n{self.tail()}")
            time.sleep(0.1)
        raise AssertionError(
            f"timed out on {sql!r}: last {rows and [dict(r) for r in rows]}\n{self.tail()}"
        )
