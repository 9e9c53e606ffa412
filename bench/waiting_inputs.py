"""The inputs of the scale-out run that wait: flat-field runs sent before their pedestal, and
FRAM-down reports whose fallback extinction waits for QualPipe's assessment.

`camera_runs` writes one small pedestal and flat-field run per telescope (64 pixels, 2 gains,
300 events) into a data root the instances share; `fram_downs` builds FRAM-down messages for
distinct nights; `answers` plays QualPipe: one verdict per pending assessment wait;
`wait_figures` checks what the waits left in the database.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calibd.handlers.camera.simulate import simulate_run
from calibd.handlers.camera.simulate_cli import run_envelope

from calibd.demo_story import qualpipe_answers
from calibd.events.examples import EXAMPLES

__all__ = ["answers", "camera_runs", "fram_downs", "wait_figures"]

N_EVENTS = 300
START = datetime(2026, 11, 24, 20, tzinfo=UTC)


def _routed(envelope: dict[str, Any], transport: str) -> dict[str, Any]:
    """The envelope with an id naming the transport it is fed on (see fault_injection.feed)."""
    return {**envelope, "id": f"{transport}-{uuid.uuid4()}"}


def camera_runs(root: Path, telescopes: int) -> tuple[list[dict], list[dict]]:
    """(flat-field messages, pedestal messages): telescope t's pedestal run is obs 100 + t,
    its flat-field run obs 200 + t, five minutes later."""
    root.mkdir(parents=True, exist_ok=True)
    flatfields, pedestals = [], []
    for tel in range(1, telescopes + 1):
        model = {"n_pixels": 64, "seed": tel, "dead": [3]}
        ped, ff = root / f"tel{tel:03d}_pedestal.fits", root / f"tel{tel:03d}_flatfield.fits"
        simulate_run(ped, "PEDESTAL", N_EVENTS, model, tel_id=tel, obs_id=100 + tel)
        simulate_run(ff, "FLATFIELD", N_EVENTS, model, tel_id=tel, obs_id=200 + tel)
        later = START + timedelta(minutes=5)
        transport = "kafka" if tel % 2 else "mqtt"
        flatfields.append(
            _routed(run_envelope(ff, "FLATFIELD", tel, 200 + tel, later, N_EVENTS), transport)
        )
        pedestals.append(
            _routed(run_envelope(ped, "PEDESTAL", tel, 100 + tel, START, N_EVENTS), transport)
        )
    return flatfields, pedestals


def fram_downs(n: int) -> list[dict]:
    """FRAM-down messages for `n` distinct nights (the seasonal fallback always answers)."""
    out = []
    for k in range(n):
        night = START + timedelta(days=k)
        env = json.loads(json.dumps(EXAMPLES["ctao.acada.fram_down"]))
        env["data"].update(
            period_start=night.isoformat(), period_end=(night + timedelta(hours=10)).isoformat()
        )
        out.append(_routed(env, "kafka" if k % 2 else "mqtt"))
    return out


def answers(waits: list[dict[str, Any]]) -> list[dict]:
    """QualPipe's verdicts on the pending assessment waits, to feed on Kafka."""
    return [_routed(json.loads(raw), "kafka") for raw in qualpipe_answers(waits)]


def wait_figures(rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    """From (handler, event_id, status) of every wait: waits per waiting input and handler,
    and their statuses."""
    per_input = Counter((handler, event_id) for handler, event_id, _ in rows)
    return {
        "waits by handler and status": dict(Counter(f"{h} {s}" for h, _, s in rows)),
        "waits per waiting input": dict(Counter(per_input.values())),
    }
