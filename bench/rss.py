"""Peak resident memory of this process, for the benchmarks."""

from __future__ import annotations


def peak_rss_mb() -> float:
    """VmHWM: this process's peak resident set (getrusage's ru_maxrss would carry the
    parent's peak across a spawn's exec, so a child would report its parent's)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
