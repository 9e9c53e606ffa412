"""Camera calibration benchmark: pedestal + flat-field + coefficients for one telescope.

Writes a synthetic pedestal and flat-field run (1,855 pixels, 2 gains by default), then times
the handler's worker functions (`compute_pedestal`, `compute_flatfield`: file reading,
extraction, streaming sigma-clipped statistics, F-factor coefficients) in a fresh child process
per mode and prints wall time, events per second (both runs) and the child's peak RSS.
Simulation time is not counted. Target (issue 3): image mode < 2 s and < 500 MB for 10,000
events. Not a test.

Usage: python bench/camera_calibration.py [EVENTS] [--modes image,waveform] [--samples 40]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibd.handlers.camera.handler import CameraConfig, compute_flatfield, compute_pedestal
from calibd.handlers.camera.simulate import CameraModel, simulate_run
from rss import peak_rss_mb


def _measure(paths: tuple[str, str], config: dict, out) -> None:
    t0 = time.perf_counter()
    ped = compute_pedestal([paths[0]], config)
    t1 = time.perf_counter()
    compute_flatfield([paths[1]], ped["arrays"], config)
    t2 = time.perf_counter()
    out.send((t1 - t0, t2 - t1, peak_rss_mb()))


def run_mode(workdir: Path, mode: str, events: int, samples: int, chunk: int) -> None:
    model = CameraModel(n_samples=samples, dead=[1, 2, 3], hot=[10], noisy=[20])
    paths = []
    t0 = time.perf_counter()
    for kind in ("PEDESTAL", "FLATFIELD"):
        path = workdir / f"{mode}_{kind.lower()}.fits"
        simulate_run(path, kind, events, model, mode, tel_id=1, obs_id=len(paths) + 1)
        paths.append(str(path))
    size_mb = sum(Path(p).stat().st_size for p in paths) / 1e6
    print(
        f"{mode}: wrote 2 runs of {events} events ({size_mb:.0f} MB) in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    config = CameraConfig(chunk_size=chunk).model_dump()
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(
        target=_measure, args=(tuple(paths), config, child)
    )
    proc.start()
    ped_s, ff_s, peak_mb = parent.recv()
    proc.join()
    total = ped_s + ff_s
    print(
        f"{mode}: pedestal {ped_s:.2f} s + flat-field and coefficients {ff_s:.2f} s = "
        f"{total:.2f} s wall; {2 * events / total:,.0f} events/s; peak RSS {peak_mb:.0f} MB "
        f"(chunk {chunk} events)",
        flush=True,
    )
    for p in paths:
        Path(p).unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int, nargs="?", default=10_000)
    parser.add_argument("--modes", default="image,waveform")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--chunk", type=int, default=CameraConfig().chunk_size)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calibd-bench-camera-") as tmp:
        for mode in args.modes.split(","):
            run_mode(Path(tmp), mode, args.events, args.samples, args.chunk)


if __name__ == "__main__":
    main()
