"""Hostile files, messages and settings through a real `calibd run` process: files outside
the data roots are never opened, a watched directory outside them is refused at start-up,
and hostile inputs between valid ones over MQTT are each dead-lettered with their reason."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.integration.test_kafka_path import assigned
from tests.support.daemon_process import REPO, DaemonProcess
from tests.support.inotify import OpenWatch

pytestmark = pytest.mark.integration

NAME = "TEL001_SDH0000_20261124T210300_SBID0000000002_OBSID0000000200_TEL_CAL_CHUNK{:03d}.fits.fz"


def trigger_settings(dl0, **extra) -> dict:
    return {
        "acada_triggers.enabled": True,
        "acada_triggers.directories": [str(dl0)],
        "acada_triggers.poll_interval_s": 0.2,
        "data_roots": [str(dl0)],
        "pipeline.handler_modules": ["tests.support.echo_handler"],
        "pipeline.workers": 1,
        **extra,
    }


def test_a_trigger_to_a_file_outside_the_roots_is_refused_unopened(tmp_path):
    dl0 = tmp_path / "dl0"
    dl0.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    header = fits.Header()
    header["RUNTYPE"] = "PEDESTAL"
    fits.PrimaryHDU(header=header).writeto(outside / NAME.format(0))
    fits.PrimaryHDU(header=header).writeto(dl0 / NAME.format(1))
    # a trigger pointing straight outside, and one through a DL0-named symlink inside the roots
    os.symlink(outside / NAME.format(0), dl0 / f"{NAME.format(0)}.trigger")
    os.symlink(outside / NAME.format(0), dl0 / NAME.format(2))
    os.symlink(NAME.format(2), dl0 / f"{NAME.format(2)}.trigger")
    os.symlink(NAME.format(1), dl0 / f"{NAME.format(1)}.trigger")  # a good one, processed
    os.mkfifo(outside / NAME.format(3))  # opening a FIFO blocks: the watcher would hang
    os.symlink(outside / NAME.format(3), dl0 / f"{NAME.format(3)}.trigger")
    watch = OpenWatch(outside / NAME.format(0))
    daemon = DaemonProcess(tmp_path / "calibd", trigger_settings(dl0)).start()
    try:
        daemon.wait_query("SELECT COUNT(*) FROM processed", lambda r: r[0][0] == 4)
    finally:
        assert daemon.stop() == 0
    try:
        assert watch.events() == []  # nothing opened or read the file outside the roots
    finally:
        watch.close()
    letters = daemon.query("SELECT reason, detail FROM dead_letters ORDER BY id")
    assert len(letters) == 3 and {d["reason"] for d in letters} == {"bad_input"}
    for letter in letters:
        assert "outside the data roots" in letter["detail"]
    details = " ".join(d["detail"] for d in letters)
    assert details.count(f"resolves to {outside / NAME.format(0)}, outside") == 2
    assert f"resolves to {outside / NAME.format(3)}, outside" in details
    assert len(daemon.query("SELECT id FROM products")) == 1


def test_a_watched_directory_outside_the_roots_exits_2(tmp_path):
    roots, watched = tmp_path / "roots", tmp_path / "watched"
    roots.mkdir()
    watched.mkdir()
    daemon = DaemonProcess(
        tmp_path / "calibd", trigger_settings(watched, data_roots=[str(roots)])
    ).start()
    assert daemon.proc is not None
    code = daemon.proc.wait(60)
    assert code == 2
    log = daemon.log.read_text()
    assert f"acada_triggers.directories: {watched} outside the data roots ({roots})" in log
    # a watched directory that is a symlink into the roots from outside is judged resolved
    link = tmp_path / "link"
    link.symlink_to(roots)
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "calibd",
            "--data-dir",
            str(tmp_path / "c2"),
            "--set",
            "acada_triggers.enabled=true",
            "--set",
            f'acada_triggers.directories=["{link}"]',
            "--set",
            f'data_roots=["{roots}"]',
            "products",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr


def muon_file(path, time: np.ndarray, fmt: str = "D") -> None:
    n = len(time)
    columns = [
        fits.Column(name="time", format=fmt, array=time),
        fits.Column(name="optical_efficiency", format="D", array=np.full(n, 0.2)),
        fits.Column(name="impact", format="D", unit="m", array=np.full(n, 3.0)),
        fits.Column(name="fit_valid", format="L", array=np.ones(n, bool)),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="MUONS")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


def fram_file(path, seconds: np.ndarray) -> None:
    n = len(seconds)
    columns = [
        fits.Column(name="timestamp", format="D", unit="s", array=seconds),
        fits.Column(name="ra", format="D", unit="deg", array=np.full(n, 350.0)),
        fits.Column(name="dec", format="D", unit="deg", array=np.full(n, 28.0)),
        fits.Column(name="aod", format="D", array=np.full(n, 0.03)),
        fits.Column(name="aod_err", format="D", array=np.full(n, 0.004)),
        fits.Column(name="peak_wavelength", format="D", unit="nm", array=np.full(n, 550.0)),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="FRAM")
    hdu.header.update({"DATATYPE": "FRAM", "MJDREF": 40587.0, "TIMESYS": "UTC"})
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


async def test_hostile_inputs_between_valid_ones_over_kafka(kafka, tmp_path, uid):
    """The built-in handlers in a real daemon, fed over Kafka by an independent producer: each
    hostile message gets its own dead letter with a reason naming the field, the valid ones
    between them make products, and the daemon keeps running."""
    data = tmp_path / "data"
    data.mkdir()
    muon_file(data / "rings_2d.fits", np.full((20, 2), 61000.0), "2D")
    muon_file(data / "rings_text.fits", np.array(["61000.5"] * 20), "10A")
    fram_file(data / "fram_far.fits", np.full(10, (1e12 - 40587.0) * 86400.0))
    with gzip.open(data / "rings.fits.gz", "wb") as fh:  # 64 MiB of zeros, 64 kB on disk
        for _ in range(64):
            fh.write(bytes(2**20))
    topic = f"acada.hostile.{uid}"
    settings = {
        "kafka.enabled": True,
        "kafka.bootstrap_servers": kafka.bootstrap,
        "kafka.group_id": f"calibd-{uid}",
        "kafka.topics": [topic],
        "kafka.products_topic": f"calibpipe.products.{uid}",
        "kafka.dlq_topic": f"calibpipe.dlq.{uid}",
        "kafka.session_timeout_ms": 6000,
        "pipeline.handler_modules": ["calibd.handlers", "tests.support.nan_handler"],
        "pipeline.workers": 1,
        "pipeline.max_file_bytes": 8 * 2**20,
        "data_roots": [str(data)],
    }
    fram_ok = example("ctao.acada.fram_data")
    tiny_err = example("ctao.acada.fram_data")
    for m in tiny_err["data"]["measurements"]:
        m["aod_err"] = 1e-300
    year_one = example(
        "ctao.acada.fram_data",
        period_start="0001-11-24T20:00:00Z",
        period_end="0001-11-24T22:00:00Z",
    )
    files = {
        "rings_2d": example("ctao.acada.muon_data", rings=None, files=[{"uri": "rings_2d.fits"}]),
        "rings_text": example(
            "ctao.acada.muon_data", rings=None, files=[{"uri": "rings_text.fits"}]
        ),
        "bomb": example("ctao.acada.muon_data", rings=None, files=[{"uri": "rings.fits.gz"}]),
        "far": example("ctao.acada.fram_data", measurements=None, files=[{"uri": "fram_far.fits"}]),
        "nul": example("ctao.acada.muon_data", rings=None, files=[{"uri": "rings\u0000.fits"}]),
    }
    sequence = [
        (fram_ok, None),
        (tiny_err, "FRAM aod_err: values down to 1e-300 are too small"),
        (example("ctao.acada.fram_down"), None),
        (files["rings_2d"], "rings_2d.fits: column time has shape (20, 2)"),
        (files["rings_text"], "rings_text.fits: column time holds |S10 values"),
        (files["far"], "fram_far.fits: column timestamp: 10 of 10 times outside"),
        (year_one, "data.period_start: 0001-11-24T20:00:00+00:00 is outside"),
        (files["bomb"], "rings.fits.gz: gzip data decompress to more than 8388608"),
        (files["nul"], "file uri 'rings\\x00.fits': contains a NUL byte"),
        (example("ctao.acada.weather"), "payload.profile.tau[1]: nan is not"),
        (example("ctao.acada.muon_data"), None),
    ]
    await produce(kafka.bootstrap, topic, [json.dumps(sequence[0][0]).encode()])  # the topic
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_log(assigned, timeout=60, what="partitions assigned")
        for n, (env, _) in enumerate(sequence, start=1):
            if n > 1:
                await produce(kafka.bootstrap, topic, [json.dumps(env).encode()])
            daemon.wait_query(  # one at a time: the FRAM-down must see the FRAM product
                "SELECT COUNT(*) FROM processed", lambda r, n=n: r[0][0] == n, timeout=60
            )
        assert daemon.proc is not None and daemon.proc.poll() is None
        n_dead = sum(1 for _, expected in sequence if expected)
        notices = await consume(kafka.bootstrap, f"calibpipe.dlq.{uid}", n_dead)
    finally:
        assert daemon.stop() == 0
    # every dead letter was published to the dead-letter topic, with its reason
    published = {n["value"]["data"]["event_id"]: n["value"]["data"] for n in notices}
    assert len(published) == n_dead
    letters = {
        r["event_id"]: r for r in daemon.query("SELECT event_id, reason, detail FROM dead_letters")
    }
    outcomes = {r["event_id"]: r["status"] for r in daemon.query("SELECT * FROM processed")}
    for env, expected in sequence:
        if expected is None:
            assert outcomes[env["id"]] == "done", letters.get(env["id"])
            continue
        letter = letters[env["id"]]
        assert expected in letter["detail"], letter["detail"]
        reason = "invalid_product" if "payload." in expected else "bad_input"
        assert letter["reason"] == reason
        assert "Traceback" not in letter["detail"]
        assert published[env["id"]]["reason"] == reason
    products = daemon.query("SELECT product_type, payload FROM products ORDER BY created_at")
    kinds = [p["product_type"] for p in products]
    assert kinds == ["aerosol_extinction", "aerosol_extinction", "optical_throughput_muon"]
    fallback = json.loads(products[1]["payload"])
    assert fallback["method"] == "last_fram"  # the FRAM-down of that night is served
