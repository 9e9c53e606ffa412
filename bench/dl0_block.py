"""DL0 observation-block benchmark: calibration stream files -> camera calibration time series.

Writes an observation block of interleaved pedestal and flat-field events in 4 DL0 streams
(`simulate_dl0_block`, 1,855 pixels, 40 samples by default; not timed), then, each in a fresh
child process on the same files, prints events per second and the child's peak RSS of:

- protozfits: the raw decode of every event (waveforms converted to p.e., as any reader must);
- calibd: `compute_block`, the camera_block handler's worker (read, merge the streams, extract,
  chunked statistics, coefficients);
- ctapipe: ctapipe-io-zfits' EventSource and ctapipe's CameraCalibrator (DL0 -> DL1 images),
  the per-event part of the reference route (ctapipe-process, then pixel statistics and
  coefficients): a lower bound of its cost.

Targets (issue 12): calibd >= 70 % of protozfits' rate, >= 10x ctapipe's, peak RSS < 500 MB
for a 1.5 GB block (20,000 events). Not a test.

Usage: python bench/dl0_block.py [EVENTS] [--chunk-files EVENTS_PER_FILE] [--skip-ctapipe]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibd.handlers.camera.block_compute import compute_block
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _protozfits(paths: list[str]) -> int:
    import numpy as np
    from protozfits import File

    n = 0
    for path in paths:
        with File(path) as f:
            ds = f.DataStream[0]
            for ev in f.Events:
                wf = ev.waveform.reshape(ev.num_channels, ev.num_pixels_survived, ev.num_samples)
                wf.astype(np.float32) / np.float32(ds.waveform_scale) - ds.waveform_offset
                n += 1
    return n


def _calibd(paths: list[str]) -> int:
    out = compute_block(paths, {})
    return sum(out["n_events"].values())


def _ctapipe(paths: list[str]) -> int:
    os.environ.setdefault("CTAPIPE_IO_ZFITS_NO_SERVICE_DATA", "1")
    from ctapipe.calib import CameraCalibrator
    from ctapipe.io import EventSource

    n = 0
    with EventSource(paths[0]) as source:  # finds the other streams of the block itself
        calibrate = CameraCalibrator(subarray=source.subarray)
        for event in source:
            calibrate(event)
            n += 1
    return n


def _child(kind: str, paths: list[str], queue) -> None:
    t0 = time.perf_counter()
    n = {"protozfits": _protozfits, "calibd": _calibd, "ctapipe": _ctapipe}[kind](paths)
    queue.put((n, time.perf_counter() - t0, _rss_mb()))


def measure(kind: str, paths: list[str]) -> tuple[int, float, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, paths, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", nargs="?", type=int, default=4000)
    parser.add_argument("--chunk-files", type=int, default=1250, help="events per stream file")
    parser.add_argument("--skip-ctapipe", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        truth = simulate_dl0_block(
            tmp, {"n_pixels": 1855, "n_samples": 40, "seed": 1}, args.events, tel_id=1,
            sb_id=1, obs_id=1, start=datetime(2026, 1, 1, 22, tzinfo=UTC),
            chunk_size=args.chunk_files, seed=2,
        )  # fmt: skip
        size = sum(Path(f).stat().st_size for f in truth.files)
        print(f"block: {args.events} events in {len(truth.files)} files, {size / 2**20:.0f} MB "
              f"(written in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
        kinds = ["protozfits", "calibd"] + ([] if args.skip_ctapipe else ["ctapipe"])
        results = {k: measure(k, list(truth.files)) for k in kinds}
    base = results["protozfits"][0] / results["protozfits"][1]
    for kind, (n, seconds, rss) in results.items():
        rate = n / seconds
        print(f"{kind:<11} {n:6d} events {seconds:7.1f} s {rate:8.0f} events/s "
              f"{rate / base:6.1%} of protozfits  peak RSS {rss:6.0f} MB")  # fmt: skip
    if "ctapipe" in results:
        speedup = (results["calibd"][0] / results["calibd"][1]) / (
            results["ctapipe"][0] / results["ctapipe"][1]
        )
        print(f"calibd / ctapipe route (lower bound): {speedup:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
