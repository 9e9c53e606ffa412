"""Scratch space for the spills of handlers: folders `<data_dir>/scratch/calibd-<pid>-*`, each
made by the process `pid` and removed by it when done. A process killed before that (a
SIGKILL, a power cut) leaves its folders, hundreds of MB for a DL0 block: the daemon removes
the folders of processes that no longer exist when it starts (`remove_stale`)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from calibd.logs import get_logger

__all__ = ["make_scratch_dir", "remove_stale", "scratch_root"]

log = get_logger("calibd.scratch")
_OWNED = re.compile(r"calibd-(\d+)-")


def scratch_root(data_dir: Path) -> Path:
    return data_dir / "scratch"


def make_scratch_dir(data_dir: Path, what: str) -> str:
    """A new folder for this process under the scratch root (blocking: call it in a thread)."""
    root = scratch_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"calibd-{os.getpid()}-{what}-", dir=root)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(data_dir: Path) -> int:
    """Remove the scratch folders of processes that are gone; how many (blocking)."""
    root = scratch_root(data_dir)
    if not root.is_dir():
        return 0
    stale = []
    for entry in root.iterdir():
        owned = _OWNED.match(entry.name)
        if owned and entry.is_dir() and not entry.is_symlink() and not _alive(int(owned[1])):
            stale.append(entry)
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    if stale:
        log.info("removed scratch folders of stopped processes", count=len(stale), root=str(root))
    return len(stale)
