"""Progress of long command-line work (replay, reprocess, export, simulate) on a terminal.

    with progress("replay", total=None) as bar:
        bar.total = 1200
        bar.advance()               # stderr: "replay  340/1200  28%  51/s  eta 17s"

One line on stderr, redrawn at most 10 times a second, only when stderr is a terminal; with
stderr a file or pipe (a log, systemd, a test) nothing is written. calibd's own helper, not
tqdm or rich: a counter, a rate and a TTY check are all it needs, and the daemon's JSON log
must never see a control character.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress", "TerminalLog", "progress"]

_ACTIVE: list[Progress] = []  # bars on screen, so that log lines do not break them


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """A counter drawn on a terminal; a no-op on anything else. Thread-safe."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "",
        stream: TextIO | None = None,
        interval_s: float = 0.1,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.note = ""
        self._stream = sys.stderr if stream is None else stream
        try:
            self.enabled = bool(self._stream.isatty())
        except (AttributeError, ValueError):
            self.enabled = False
        self._interval = interval_s
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.RLock()  # a log line may redraw while a thread draws

    def advance(self, n: int = 1, note: str | None = None) -> None:
        with self._lock:
            self.done += n
            if note is not None:
                self.note = note
            self._draw(force=False)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / elapsed
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            share = 100 * self.done / self.total
            text = f"{self.label}  {self.done}/{self.total}{unit}  {share:3.0f}%"
            if rate > 0 and self.done < self.total:
                text += f"  {rate:.3g}/s  eta {_duration((self.total - self.done) / rate)}"
        else:
            text = f"{self.label}  {self.done}{unit}  {rate:.3g}/s"
        text += f"  {_duration(elapsed)}"
        return f"{text}  {self.note}" if self.note else text

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < self._interval:
            return
        self._drawn = now
        try:
            self._stream.write("\r" + self.line() + "\x1b[K")
            self._stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def redraw(self) -> None:
        with self._lock:
            self._draw(force=True)

    def close(self) -> None:
        """The final state, then a new line (so what follows starts on its own line)."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        with self._lock:
            self._draw(force=True)
            if self.enabled:
                try:
                    self._stream.write("\n")
                    self._stream.flush()
                except (OSError, ValueError):
                    pass
            self.enabled = False

    def __enter__(self) -> Progress:
        if self.enabled:
            _ACTIVE.append(self)
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(label: str, total: int | None = None, unit: str = "") -> Progress:
    """A `Progress` on stderr (drawn only when stderr is a terminal)."""
    return Progress(label, total, unit)


class TerminalLog:
    """A log stream on a terminal that a progress line shares: each log line first clears
    the progress line, which is drawn again below it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        bars = [b for b in _ACTIVE if b.enabled and b._stream is self._stream]
        if bars:
            self._stream.write("\r\x1b[K")
        n = self._stream.write(text)
        for bar in bars:
            bar.redraw()
        return n

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()
