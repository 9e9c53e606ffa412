"""Scratch folders: a process's own are kept, those of a process that is gone are removed at
start, anything else under the scratch root is left alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from calibd.scratch import make_scratch_dir, remove_stale, scratch_root


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_the_folders_of_stopped_processes_are_removed(tmp_path: Path):
    mine = Path(make_scratch_dir(tmp_path, "block"))
    (mine / "spill.bin").write_bytes(b"x" * 1000)
    root = scratch_root(tmp_path)
    dead = root / f"calibd-{_dead_pid()}-block-abc"
    (dead / "inner").mkdir(parents=True)
    (dead / "inner" / "spill.bin").write_bytes(b"y" * 1000)
    other = root / "not-calibd"  # not named by calibd: never touched
    other.mkdir()
    assert mine.parent == root and mine.name.startswith("calibd-")
    assert remove_stale(tmp_path) == 1
    assert sorted(p.name for p in root.iterdir()) == sorted([mine.name, "not-calibd"])
    assert (mine / "spill.bin").exists()
    assert remove_stale(tmp_path) == 0
    assert remove_stale(tmp_path / "nowhere") == 0
