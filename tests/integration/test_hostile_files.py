"""Hostile files and settings through a real `calibd run` process: files outside the data
roots are never opened, and a watched directory outside them is refused at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from astropy.io import fits

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
    watch = OpenWatch(outside / NAME.format(0))
    daemon = DaemonProcess(tmp_path / "calibd", trigger_settings(dl0)).start()
    try:
        daemon.wait_query("SELECT COUNT(*) FROM processed", lambda r: r[0][0] == 3)
    finally:
        assert daemon.stop() == 0
    try:
        assert watch.events() == []  # nothing opened or read the file outside the roots
    finally:
        watch.close()
    letters = daemon.query("SELECT reason, detail FROM dead_letters ORDER BY id")
    assert len(letters) == 2 and {d["reason"] for d in letters} == {"bad_input"}
    for letter in letters:
        assert f"resolves to {outside / NAME.format(0)}, outside the data roots" in letter["detail"]
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
