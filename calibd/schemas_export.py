"""`calibd schemas export`: JSON Schemas, examples and the AsyncAPI 3 document in schemas/.

The files are generated from the models; tests fail when the committed files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calibd import __version__
from calibd.config import KafkaSettings, MqttSettings
from calibd.events import INBOUND_MODELS, OUTBOUND_MODELS, received_on, sent_on
from calibd.events.channels import Receive
from calibd.events.examples import EXAMPLES

__all__ = ["check", "export", "render"]

SCHEMA_BASE = "https://ctao.org/dpps/calibpipe/schemas/"


#: How calibd validates what it receives (the `$comment` of each inbound schema).
STRICT_VALIDATION = (
    "calibd validates inbound messages strictly: values are not coerced between JSON types "
    '(a string such as "5050" is not a number, true is not 1, 5.0 is not an integer), '
    "'specversion' is required, unknown fields of 'data' are refused, times need their "
    "offset and must lie in years 0001-9999 also in UTC. The same source + id with other "
    "content is dead-lettered as conflicting_duplicate (CloudEvents: source + id identify "
    "one event)."
)


def _schema(event_type: str, model: type) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    if event_type in INBOUND_MODELS:  # received messages must carry specversion
        schema["properties"]["specversion"].pop("default", None)
        schema["required"] = ["specversion"] + [
            r for r in schema.get("required", []) if r != "specversion"
        ]
        schema = {"$comment": STRICT_VALIDATION, **schema}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{event_type}.schema.json",
        **schema,
        "title": event_type,
    }


def _channels() -> list[dict[str, Any]]:
    """(channel id, address, protocol, message types, direction) of every channel.

    Derived from the `channel` each event model declares and the default topic settings.
    """
    k, m = KafkaSettings(), MqttSettings()
    received = received_on()
    out = [
        {
            "id": f"kafka-{c.kafka}",
            "address": c.kafka,
            "protocol": "kafka",
            "types": types,
            "dir": "receive",
        }
        for c, types in received.items()
    ]
    mqtt: dict[str, tuple[Receive, list[str]]] = {}  # channels sharing an MQTT base: one
    for c, types in received.items():
        mqtt.setdefault(c.mqtt, (c, []))[1].extend(types)
    out += [
        {
            "id": f"mqtt-{c.mqtt_name}",
            "address": f"{c.mqtt}/{{path}}",
            "protocol": "mqtt",
            "dir": "receive",
            "types": types,
        }
        for c, types in mqtt.values()
    ]
    for send, types in sent_on().items():
        ktopic = k.topic_of(send)
        out.append(
            {
                "id": f"kafka-{ktopic}",
                "address": ktopic,
                "protocol": "kafka",
                "types": types,
                "dir": "send",
            }
        )
        out.append(
            {
                "id": f"mqtt-{send.name}",
                "address": m.topic_of(send, "{product_type}"),
                "protocol": "mqtt",
                "types": types,
                "dir": "send",
            }
        )
    return out


def _msg_id(event_type: str) -> str:
    return event_type.replace(".", "_")


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of calibd's channels."""
    channels, operations, messages = {}, {}, {}
    for event_type, model in {**INBOUND_MODELS, **OUTBOUND_MODELS}.items():
        messages[_msg_id(event_type)] = {
            "name": event_type,
            "title": event_type,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"./json/{event_type}.schema.json"},
            "examples": [{"payload": EXAMPLES[event_type]}],
        }
    for ch in _channels():
        channel: dict[str, Any] = {
            "address": ch["address"],
            "messages": {
                _msg_id(t): {"$ref": f"#/components/messages/{_msg_id(t)}"} for t in ch["types"]
            },
            "bindings": {ch["protocol"]: {}},
        }
        if "{path}" in ch["address"] or "{product_type}" in ch["address"]:
            param = "path" if "{path}" in ch["address"] else "product_type"
            channel["parameters"] = {param: {"description": f"MQTT topic level(s): {param}"}}
        channels[ch["id"]] = channel
        op: dict[str, Any] = {
            "action": ch["dir"],
            "channel": {"$ref": f"#/channels/{ch['id']}"},
            "messages": [
                {"$ref": f"#/channels/{ch['id']}/messages/{_msg_id(t)}"} for t in ch["types"]
            ],
        }
        if ch["protocol"] == "mqtt":
            op["bindings"] = {"mqtt": {"qos": 1}}
        operations[f"{ch['dir']}-{ch['id']}"] = op
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "calibd: CTAO DPPS Calibration Pipeline daemon",
            "version": __version__,
            "description": (
                "Messages calibd consumes and publishes. Every message is a CloudEvents 1.0 "
                "envelope in JSON structured mode; on Kafka the binary mode (ce_* headers) is "
                "accepted too. Default topic names; all are configurable. " + STRICT_VALIDATION
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "kafka": {"host": "localhost:9092", "protocol": "kafka"},
            "mqtt": {"host": "localhost:1883", "protocol": "mqtt"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """Relative path -> file content of everything `export` writes."""
    files: dict[str, str] = {}
    for event_type, model in {**INBOUND_MODELS, **OUTBOUND_MODELS}.items():
        files[f"json/{event_type}.schema.json"] = _dump(_schema(event_type, model))
        files[f"examples/{event_type}.json"] = _dump(EXAMPLES[event_type])
    files["asyncapi.json"] = _dump(asyncapi())
    return files


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def export(out: Path) -> list[Path]:
    written = []
    for rel, content in render().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written


def check(out: Path) -> list[str]:
    """Paths under `out` that are missing or differ from what `export` would write."""
    stale = []
    for rel, content in render().items():
        path = out / rel
        if not path.is_file() or path.read_text() != content:
            stale.append(str(path))
    return stale
