"""`calibd simulate dl0-cal`: an ACADA DL0 observation block of interleaved calibration events
with a known truth, and the block `calibd demo` calibrates.

The files are written as ACADA's writer does (`dl0_writer`: protobuf-zFITS, the same HDUs,
messages and compression), in `--streams` parallel streams (SDH000..) of chunk files, each
with its `.trigger` link. The command prints one `ctao.acada.calibration_stream_file` message
per file (what the trigger source makes of the triggers) for `calibd replay`, and writes the
residual truth to `truth.npz` beside the files (relative_gain, pedestal_residual per sample,
time_offset in samples, the dead, hot and noisy pixels).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from calibd.handler_api import (
    demo_handler_settings,
    demo_input,
    progress,
    simulator,
    trigger_message,
)

__all__ = ["dl0_block_messages", "dl0_cal"]


def dl0_block_messages(
    directory: Path, *, events: int, pixels: int, samples: int, streams: int, chunk: int,
    tel_id: int, sb_id: int, obs_id: int, start: datetime, seed: int, bad: dict[str, list[int]],
    level: str = "DL0", gain_switch_pe: float | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Write the block and its truth; the messages of its triggers, in file order."""
    from calibd.handlers.camera.dl0_simulate import simulate_dl0_block

    directory.mkdir(parents=True, exist_ok=True)
    model = {"n_pixels": pixels, "n_samples": samples, "seed": seed, **bad}
    with progress(f"simulate {level} block", total=events, unit="events") as bar:
        truth = simulate_dl0_block(
            directory, model, events, tel_id=tel_id, sb_id=sb_id, obs_id=obs_id, start=start,
            n_streams=streams, chunk_size=chunk, seed=seed + 1, level=level,
            gain_switch_pe=gain_switch_pe, bar=bar,
        )  # fmt: skip
    np.savez(
        directory / "truth.npz",
        relative_gain=truth.relative_gain,
        pedestal_residual=truth.pedestal_residual,
        time_offset=truth.time_offset,
        **{k: np.asarray(v, dtype=np.int64) for k, v in bad.items()},
    )
    roots = [directory]
    return [trigger_message(Path(f"{f}.trigger"), roots) for f in truth.files]


def _pixels(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


@simulator("dl0-cal", help="write an ACADA DL0 calibration-event block with a known truth")
def dl0_cal(parser: argparse.ArgumentParser):
    parser.add_argument("--out", type=Path, required=True, help="directory of the block's files")
    parser.add_argument("--tel", type=int, default=1)
    parser.add_argument("--sb", type=int, default=1)
    parser.add_argument("--obs", type=int, default=1)
    parser.add_argument("--events", type=int, default=2000, help="pedestal + flat-field events")
    parser.add_argument("--pixels", type=int, default=1855)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--streams", type=int, default=4, help="parallel streams (SDH000..)")
    parser.add_argument("--chunk", type=int, default=5000, help="events per chunk file")
    parser.add_argument("--dead", type=_pixels, default=[], help="pixel indices, comma separated")
    parser.add_argument("--hot", type=_pixels, default=[])
    parser.add_argument("--noisy", type=_pixels, default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=datetime.fromisoformat, default=None, help="ISO time")
    parser.add_argument("--level", choices=["DL0", "R1"], default="DL0", help="R1: no DVR")
    parser.add_argument(
        "--gain-switch-pe",
        type=float,
        default=None,
        help="gain selection: pixels above this many p.e. stored in low gain (default: none)",
    )

    def run(args: argparse.Namespace) -> int:
        start = args.start or datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        bad = {"dead": args.dead, "hot": args.hot, "noisy": args.noisy}
        for message in dl0_block_messages(
            args.out, events=args.events, pixels=args.pixels, samples=args.samples,
            streams=args.streams, chunk=args.chunk, tel_id=args.tel, sb_id=args.sb,
            obs_id=args.obs, start=start, seed=args.seed, bad=bad, level=args.level,
            gain_switch_pe=args.gain_switch_pe,
        ):  # fmt: skip
            print(json.dumps(message))
        return 0

    return run


# the demo writes its block whole: no need to wait for more of its files, nor (the block is
# computed at once) to keep the older files' waits parked for a slow computation
demo_handler_settings(
    "camera_block", {"settle_s": 0.0, "quiet_s": 0.001, "compute_allowance_s": 0.001}
)


@demo_input
def demo_dl0_block(workdir: Path) -> list[dict[str, Any]]:
    """An observation block of telescope 1 in 4 DL0 streams (1,855 pixels, 40 samples, 800
    interleaved pedestal and flat-field events) with three dead, two hot and two noisy pixels."""
    return dl0_block_messages(
        workdir / "acada" / "dl0" / "LSTN-01" / "events" / "2026" / "11" / "24",
        events=800, pixels=1855, samples=40, streams=4, chunk=100, tel_id=1,
        sb_id=2000000066, obs_id=2000000300, start=datetime(2026, 11, 24, 20, 30, tzinfo=UTC),
        seed=7, bad={"dead": [10, 500, 1200], "hot": [42, 777], "noisy": [99, 1500]},
    )  # fmt: skip
