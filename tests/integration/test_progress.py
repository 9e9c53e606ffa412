"""Progress on long command-line work: drawn on stderr when it is a terminal (a real pty),
silent when stderr is a pipe (a log); the command's own output is unchanged either way."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

from calibd.progress import Progress
from tests.conftest import example

PROGRESS_MARK = "\x1b[K"  # every progress line ends by clearing the rest of the line


def run_calibd(argv: list[str], tty: bool, cwd) -> tuple[int, str, str]:
    """Run calibd with stderr on a pty (`tty`) or a pipe; (exit code, stdout, stderr)."""
    cmd = [sys.executable, "-m", "calibd", *argv]
    env = {**os.environ, "COLUMNS": "120"}
    if not tty:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: every writer closed the pty
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=60), out, b"".join(chunks).decode(errors="replace")


def simulate(tmp_path, name: str, tty: bool):
    argv = ["simulate", "camera-run", "--type", "pedestal", "--out", str(tmp_path / name)]
    return run_calibd([*argv, "--events", "300", "--pixels", "64"], tty, tmp_path)


def test_simulate_shows_progress_on_a_terminal_and_nothing_in_a_pipe(tmp_path):
    code, out, err = simulate(tmp_path, "tty.fits", tty=True)
    assert code == 0, err
    assert PROGRESS_MARK in err and "\r" in err
    assert "simulate tty.fits  300/300 events  100%" in err
    assert json.loads(out)["type"] == "ctao.acada.pedestal_run"

    code, out, err = simulate(tmp_path, "pipe.fits", tty=False)
    assert code == 0, err
    assert err == ""
    assert json.loads(out)["type"] == "ctao.acada.pedestal_run"


def test_replay_counts_messages_on_a_terminal_and_logs_only_json_otherwise(tmp_path):
    lines = [json.dumps(example("ctao.acada.weather")) for _ in range(3)] + ["{not json"]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    argv = ["--log-format", "json", "--data-dir", str(tmp_path / "tty"), "replay", str(events)]
    code, _, err = run_calibd(argv, tty=True, cwd=tmp_path)
    assert code == 0, err
    assert "replay events.jsonl  4/4 messages  100%" in err, err[-3000:]

    argv[3] = str(tmp_path / "pipe")
    code, _, err = run_calibd(argv, tty=False, cwd=tmp_path)
    assert code == 0, err
    assert PROGRESS_MARK not in err and "\r" not in err
    for line in err.splitlines():  # every line a JSON object: the log stays parseable
        json.loads(line)
    assert json.loads(err.splitlines()[-1]) == {"replayed": "events.jsonl", "done": 3, "dead": 1}


def test_progress_on_a_non_terminal_stream_writes_nothing():
    stream = io.StringIO()
    with Progress("work", total=10, stream=stream) as bar:
        for _ in range(10):
            bar.advance()
    assert stream.getvalue() == "" and bar.done == 10
    assert "10/10" in bar.line() and "100%" in bar.line()


def test_reprocess_and_export_show_progress_on_a_terminal_only(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(example("ctao.acada.weather")) + "\n")
    data = ["--log-format", "json", "--data-dir", str(tmp_path / "db")]
    assert run_calibd([*data, "replay", str(events)], tty=False, cwd=tmp_path)[0] == 0
    period = ["--start", "2026-11-24T00:00:00Z", "--end", "2026-11-26T00:00:00Z"]
    argv = [*data, "reprocess", *period, "--type", "molecular_extinction"]
    code, out, err = run_calibd(argv, tty=True, cwd=tmp_path)
    assert code == 0, err
    assert "reprocess  1/1 products  100%" in err
    assert len(json.loads(out)["redone"]) == 1
    code, out, err = run_calibd(argv, tty=False, cwd=tmp_path)  # already redone: skipped
    assert code == 0 and PROGRESS_MARK not in err and len(json.loads(out)["skipped"]) == 1

    code, out, _ = run_calibd([*data, "products", "--json"], tty=False, cwd=tmp_path)
    product_id = json.loads(out)[0]["id"]
    export = [*data, "product", "export", product_id, "-o"]
    code, _, err = run_calibd([*export, str(tmp_path / "tty.fits")], tty=True, cwd=tmp_path)
    assert code == 0 and "export tty.fits" in err and PROGRESS_MARK in err
    code, _, err = run_calibd([*export, str(tmp_path / "pipe.fits")], tty=False, cwd=tmp_path)
    assert code == 0 and PROGRESS_MARK not in err and (tmp_path / "pipe.fits").stat().st_size
