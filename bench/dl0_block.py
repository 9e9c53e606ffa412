"""DL0 observation-block benchmark: calibration stream files -> camera calibration time series.

Writes an observation block of interleaved pedestal and flat-field events in 4 DL0 streams
(`simulate_dl0_block`, 1,855 pixels, 40 samples by default; not timed), then, each in a fresh
child process on the same files, prints events per second and the child's peak RSS of:

- protozfits: the raw decode of every event (waveforms converted to p.e., as any reader must);
- calibd: `compute_block`, both steps of the camera_block handler's computation in one process
  (read, extract, spill; merge the streams, chunked statistics, coefficients);
- calibd x N: `compute_block_parallel` as the handler runs it, over a pool of N worker processes
  (`pipeline.workers`; the files in parallel, then the two kinds' statistics in parallel); its
  peak RSS is the sum of the peaks of the bench process and of each worker (an upper bound of
  what is resident at once), printed with the largest of them;
- ctapipe: ctapipe-io-zfits' EventSource and ctapipe's CameraCalibrator (DL0 -> DL1 images)
  over the block once: the decoding floor of the reference route;
- reference: the reference route itself (`reference_route.py`: ctapipe-process per event kind
  with an event-type filter writing DL1 images, then ctapipe-calculate-pixel-statistics), its
  peak RSS the largest of its commands'.

Targets (issue 12): calibd >= 70 % of protozfits' rate, >= 10x the reference route's, peak RSS
< 500 MB for a 1.5 GB block (20,000 events). Not a test.

Usage: python bench/dl0_block.py [EVENTS] [--chunk-files EVENTS_PER_FILE] [--workers N]
                                 [--skip-ctapipe]
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

from calibd.handlers.camera.block_compute import compute_block, compute_block_parallel
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block
from reference_route import reference_route
from rss import peak_rss_mb

from calibd.executor import CpuPool


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


def _worker_peak() -> tuple[int, float]:
    time.sleep(0.3)  # so that each worker of the pool takes one of these calls
    return os.getpid(), peak_rss_mb()


def _calibd_parallel(paths: list[str], workers: int) -> tuple[int, float, float]:
    """Events computed, seconds, and the summed peak RSS (MB) of the workers. The pool is
    started before the clock, as the daemon's is."""
    import asyncio

    pool = CpuPool(workers)

    async def run() -> tuple[int, float, list[float]]:
        await asyncio.gather(*(pool.run(_worker_peak) for _ in range(workers)))
        t0 = time.perf_counter()
        out = await compute_block_parallel(paths, {}, pool.run, workers)
        seconds = time.perf_counter() - t0
        peaks = dict(await asyncio.gather(*(pool.run(_worker_peak) for _ in range(workers))))
        return sum(out["n_events"].values()), seconds, list(peaks.values())

    try:
        return asyncio.run(run())
    finally:
        pool.shutdown()


def _ctapipe(paths: list[str]) -> int:
    os.environ.setdefault("CTAPIPE_IO_ZFITS_NO_SERVICE_DATA", "1")
    from ctapipe.calib import CameraCalibrator
    from ctapipe.io import EventSource

    n = 0
    from traitlets.config import Config

    config = Config({"MultiFiles": {"all_chunks": True}})
    # finds the other streams and chunks of the block itself
    with EventSource(sorted(paths)[0], config=config) as source:
        calibrate = CameraCalibrator(subarray=source.subarray)
        for event in source:
            calibrate(event)
            n += 1
    return n


def _child(kind: str, paths: list[str], workers: int, queue) -> None:
    if kind == "calibd-parallel":
        n, seconds, workers_mb = _calibd_parallel(paths, workers)
        mine = peak_rss_mb()
        queue.put((n, seconds, mine + sum(workers_mb), max(mine, *workers_mb)))
        return
    t0 = time.perf_counter()
    if kind == "reference":
        with tempfile.TemporaryDirectory() as workdir:
            n = reference_route(paths, workdir)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rss = max(peak_rss_mb(), children)
        queue.put((n, time.perf_counter() - t0, rss, rss))
        return
    n = {"protozfits": _protozfits, "calibd": _calibd, "ctapipe": _ctapipe}[kind](paths)
    queue.put((n, time.perf_counter() - t0, peak_rss_mb(), peak_rss_mb()))


def measure(kind: str, paths: list[str], workers: int) -> tuple[int, float, float, float]:
    """Events, seconds, peak RSS (MB; summed over the processes of a pool) and the largest
    single process's peak RSS, of `kind` in a fresh child process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, paths, workers, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", nargs="?", type=int, default=4000)
    parser.add_argument("--chunk-files", type=int, default=1250, help="events per stream file")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of calibd x N")
    parser.add_argument("--skip-ctapipe", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
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
        kinds = ["protozfits", "calibd", "calibd-parallel"]
        kinds += [] if args.skip_ctapipe else ["ctapipe", "reference"]
        results = {k: measure(k, list(truth.files), args.workers) for k in kinds}
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    base = results["protozfits"][0] / results["protozfits"][1]
    for kind, (n, seconds, rss, largest) in results.items():
        rate = n / seconds
        kind = kind.replace("-parallel", f" x {args.workers}")
        print(f"{kind:<11} {n:6d} events {seconds:7.1f} s {rate:8.0f} events/s "
              f"{rate / base:6.1%} of protozfits  peak RSS {rss:6.0f} MB "
              f"(largest process {largest:4.0f} MB)")  # fmt: skip
    if "reference" in results:
        ref = results["reference"][0] / results["reference"][1]
        for kind in ("calibd", "calibd-parallel"):
            speedup = results[kind][0] / results[kind][1] / ref
            print(f"{kind} / reference route: {speedup:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
