"""The command line as an operator uses it: replay, dead-letter retry, status, bad settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import example
from tests.support.daemon_process import REPO


def calibd(data_dir, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "calibd",
        "--data-dir",
        str(data_dir),
        "--set",
        'pipeline.handler_modules=["tests.support.echo_handler"]',
        "--set",
        "pipeline.workers=1",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env=env, check=check, timeout=120
    )


def test_a_dead_letter_runs_again_after_the_fix(tmp_path):
    data = tmp_path / "calibd"
    env = example("ctao.acada.pedestal_run", files=[{"uri": "runs/late.fits"}])
    replay = tmp_path / "in.jsonl"
    replay.write_text(json.dumps(env) + "\n")
    calibd(data, "replay", str(replay))
    (letter,) = json.loads(calibd(data, "dead-letters", "--json").stdout)
    assert letter["reason"] == "bad_input" and "runs/late.fits: file not found" in letter["detail"]

    (data / "runs").mkdir(parents=True)
    (data / "runs" / "late.fits").write_bytes(b"now here")
    retried = calibd(data, "dead-letters", "retry", str(letter["id"]))
    assert json.loads(retried.stdout)["status"] == "done"
    products = json.loads(calibd(data, "products", "--json").stdout)
    assert [p["input_event_id"] for p in products] == [env["id"]]
    again = calibd(data, "dead-letters", "retry", str(letter["id"]), check=False)
    assert again.returncode == 3 and "retried already" in again.stderr
    # replaying the same file again makes nothing new
    calibd(data, "replay", str(replay))
    assert len(json.loads(calibd(data, "products", "--json").stdout)) == 1

    status = calibd(data, "status").stdout
    assert "products         1" in status and "dead_letters     0" in status
    assert "instances holding claims: none" in status  # the replay's relay left none open


def test_invalid_settings_exit_2_naming_the_key(tmp_path):
    bad = calibd(tmp_path, "--set", "pipeline.max_in_flight=0", "products", check=False)
    assert bad.returncode == 2
    assert "pipeline.max_in_flight" in bad.stderr and "greater than or equal to 1" in bad.stderr
    no_source = calibd(tmp_path, "run", check=False)
    assert no_source.returncode == 2 and "no source enabled" in no_source.stderr


def test_messages_pointing_outside_the_data_roots_are_refused(tmp_path):
    data = tmp_path / "calibd"
    (data / "runs").mkdir(parents=True)
    secret = tmp_path / "secret.fits"
    secret.write_text("not yours")
    (data / "runs" / "escape.fits").symlink_to(secret)
    envs = [
        example("ctao.acada.pedestal_run", files=[{"uri": uri}])
        for uri in ("../../etc/passwd", "/etc/passwd", "runs/escape.fits")
    ]
    replay = tmp_path / "in.jsonl"
    replay.write_text("\n".join(json.dumps(e) for e in envs) + "\n")
    calibd(data, "replay", str(replay))
    letters = json.loads(calibd(data, "dead-letters", "--json").stdout)
    assert len(letters) == 3 and {d["reason"] for d in letters} == {"bad_input"}
    details = sorted(d["detail"] for d in letters)
    assert all("outside the data roots" in d or "file not found" in d for d in details)
    assert any("runs/escape.fits" in d and "outside the data roots" in d for d in details)
    assert json.loads(calibd(data, "products", "--json").stdout) == []
