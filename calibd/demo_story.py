"""The messages of `calibd demo`, in the order that tells the story.

1. the night's inputs: the demo inputs handler modules contribute (synthetic pedestal and
   flat-field runs, a DL0 observation block, a simulation production) and the documented
   example of every other handled event type (FRAM measured 20:00-22:00, weather, trigger
   rates, muons); a configuration change that is accepted; one that is rejected on purpose;
   a message broken on purpose;
2. the FRAM dome closes at 22:00: FRAM down for the rest of the night -> an aerosol extinction
   from the fallback chain (the last FRAM measurement) and a quality request to QualPipe;
3. QualPipe answers every quality request calibd is waiting on -> the FRAM-down report.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from calibd.events.examples import EXAMPLES

__all__ = [
    "BROKEN",
    "REJECTED_CHANGE_ID",
    "fram_down",
    "night",
    "qualpipe_answers",
]

#: a message cut short: JSON that does not parse (dead-lettered as `malformed`)
BROKEN = b'{"specversion": "1.0", "id": "broken-on-purpose", '
#: the id of the configuration change the demo sends to be rejected
REJECTED_CHANGE_ID = "demo-config-change-rejected-on-purpose"
#: types the demo sends itself, not as the documented example
_OWN = {"ctao.acada.fram_down", "ctao.qualpipe.assessment", "ctao.calibpipe.config_change"}


def _example(event_type: str, **data: Any) -> dict[str, Any]:
    envelope = json.loads(json.dumps(EXAMPLES[event_type]))
    envelope["data"].update(data)
    return {**envelope, "id": str(uuid.uuid4())}


def _config_changes() -> list[dict[str, Any]]:
    accepted = _example("ctao.calibpipe.config_change")
    rejected = _example(
        "ctao.calibpipe.config_change",
        changes=[{"key": "handlers.camera_flatfield.ffactor.max_faulty_fraction", "value": 7}],
        reason="demo: out of range on purpose (a fraction above 1), to show a rejection",
    )
    return [accepted, {**rejected, "id": REJECTED_CHANGE_ID}]


def night(built: list[dict[str, Any]], handled: set[str]) -> list[bytes]:
    """Step 1: `built` (the handler modules' demo inputs), the examples of the other handled
    types that need no files, the two configuration changes and the broken message."""
    envelopes = list(built)
    covered = {e["type"] for e in envelopes} | _OWN
    for event_type in sorted(handled - covered):
        if "files" not in json.dumps(EXAMPLES[event_type]["data"]):
            envelopes.append(_example(event_type))
    if "ctao.calibpipe.config_change" in handled:
        envelopes += _config_changes()
    return [json.dumps(e).encode() for e in envelopes] + [BROKEN]


def fram_down() -> list[bytes]:
    """Step 2: the FRAM dome closes after the FRAM example's measurements end."""
    fram = EXAMPLES["ctao.acada.fram_data"]["data"]
    down = _example(
        "ctao.acada.fram_down",
        period_start=fram["period_end"],
        reason="FRAM dome closed (humidity)",
    )
    return [json.dumps(down).encode()]


def qualpipe_answers(waits: list[dict[str, Any]]) -> list[bytes]:
    """Step 3: QualPipe's verdict on each quality request calibd waits on (pending waits of
    kind `assessment`: key = the request's id, state = the product it asked about)."""
    answers = []
    for w in waits:
        if w["kind"] != "assessment" or w["status"] != "pending":
            continue
        product_id = json.loads(w["state"])["product_id"]
        answers.append(
            _example(
                "ctao.qualpipe.assessment",
                request_id=w["key"],
                product_id=product_id,
                verdict="acceptable",
                comment="demo QualPipe: fallback extinction within the site's envelope",
            )
        )
    return [json.dumps(a).encode() for a in answers]
