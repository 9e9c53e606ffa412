"""A minimal Linux inotify watcher (ctypes): evidence that no process opened a file."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

IN_ACCESS, IN_OPEN = 0x001, 0x020
_IN_NONBLOCK = os.O_NONBLOCK
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class OpenWatch:
    """Records IN_OPEN / IN_ACCESS events on one path, by any process."""

    def __init__(self, path: os.PathLike | str) -> None:
        self.fd = _libc.inotify_init1(_IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")

    def events(self) -> list[int]:
        """The masks of the events seen since the last call."""
        masks: list[int] = []
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return masks
        offset = 0
        while offset < len(data):
            _wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            masks.append(mask)
            offset += 16 + length
        return masks

    def close(self) -> None:
        os.close(self.fd)
