"""`calibd simulate camera-run` and the camera runs of `calibd demo`."""

from __future__ import annotations

import argparse
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calibd.handlers.columns import to_mjd

from calibd.handler_api import demo_input, progress, simulator

__all__ = ["camera_run", "run_envelope"]

_EVENT_TYPES = {"PEDESTAL": "ctao.acada.pedestal_run", "FLATFIELD": "ctao.acada.flatfield_run"}


def run_envelope(
    path: Path, run_type: str, tel_id: int, obs_id: int, start: datetime, n_events: int
) -> dict[str, Any]:
    """The ACADA run message naming `path`, with its sha256, for `calibd replay`."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "ctao.acada/simulated",
        "type": _EVENT_TYPES[run_type],
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "tel_id": tel_id,
            "obs_id": obs_id,
            "run_start": start.isoformat(),
            "run_end": (start + timedelta(seconds=n_events / 100.0)).isoformat(),
            "files": [{"uri": str(path.resolve()), "sha256": digest}],
        },
    }


def _write(
    path: Path, run_type: str, tel_id: int, obs_id: int, events: int, start: datetime, **model
) -> dict[str, Any]:
    from calibd.handlers.camera.simulate import simulate_run

    mode = model.pop("mode", "image")
    path.parent.mkdir(parents=True, exist_ok=True)
    with progress(f"simulate {path.name}", total=events, unit="events") as bar:
        simulate_run(
            path,
            run_type,
            events,
            model,
            mode,
            tel_id=tel_id,
            obs_id=obs_id,
            start_mjd=to_mjd(start),
            seed=obs_id,
            bar=bar,
        )
    return run_envelope(path, run_type, tel_id, obs_id, start, events)


def _pixels(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


@simulator("camera-run", help="write a synthetic pedestal or flat-field run with a known truth")
def camera_run(parser: argparse.ArgumentParser):
    parser.add_argument("--type", choices=["pedestal", "flatfield"], required=True)
    parser.add_argument("--out", type=Path, required=True, help="FITS file to write")
    parser.add_argument("--tel", type=int, default=1)
    parser.add_argument("--obs", type=int, default=1)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--pixels", type=int, default=1855)
    parser.add_argument("--gains", type=int, choices=[1, 2], default=2)
    parser.add_argument("--mode", choices=["image", "waveform"], default="image")
    parser.add_argument("--samples", type=int, default=40, help="waveform samples")
    parser.add_argument("--pe", type=float, default=80.0, help="mean photo-electrons (flat-field)")
    parser.add_argument("--f2", type=float, default=1.222, help="excess noise factor F^2")
    parser.add_argument("--dead", type=_pixels, default=[], help="pixel indices, comma separated")
    parser.add_argument("--hot", type=_pixels, default=[])
    parser.add_argument("--noisy", type=_pixels, default=[])
    parser.add_argument("--seed", type=int, default=0, help="camera (truth) seed")
    parser.add_argument("--start", type=datetime.fromisoformat, default=None, help="ISO time")

    def run(args: argparse.Namespace) -> int:
        gains = ((100.0, 100.0 / 17.0), (400.0, 400.0), (6.0, 2.0))
        model = {
            "n_gains": args.gains,
            "n_pixels": args.pixels,
            "n_samples": args.samples,
            "gain_dc_per_pe": gains[0][: args.gains],
            "pedestal_per_sample": gains[1][: args.gains],
            "noise_per_sample": gains[2][: args.gains],
            "mu": args.pe,
            "f2": args.f2,
            "dead": args.dead,
            "hot": args.hot,
            "noisy": args.noisy,
            "seed": args.seed,
            "mode": args.mode,
        }
        start = args.start or datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        run_type = args.type.upper()
        print(
            json.dumps(_write(args.out, run_type, args.tel, args.obs, args.events, start, **model))
        )
        return 0

    return run


@demo_input
def demo_camera_runs(workdir: Path) -> list[dict[str, Any]]:
    """A pedestal and a flat-field run of telescope 1 (1,855 pixels, 2 gains, 500 events),
    with three dead, two hot and two noisy pixels."""
    start = datetime(2026, 11, 24, 19, 30, tzinfo=UTC)
    bad = {"dead": [10, 500, 1200], "hot": [42, 777], "noisy": [99, 1500]}
    return [
        _write(workdir / "acada" / "pedestal.fits", "PEDESTAL", 1, 1001, 500, start, **bad),
        _write(
            workdir / "acada" / "flatfield.fits",
            "FLATFIELD",
            1,
            1002,
            500,
            start + timedelta(minutes=5),
            **bad,
        ),
    ]
