"""Decoding CloudEvents: every failure is a specific poison error with a useful detail."""

from __future__ import annotations

import json

import pytest

from calibd import codec
from calibd.errors import MalformedMessage, SchemaViolation, UnknownEventType
from calibd.events import INBOUND_MODELS
from tests.conftest import example


def test_structured_mode_selects_the_model_by_type():
    for event_type, model in INBOUND_MODELS.items():
        event = codec.decode(json.dumps(example(event_type)).encode())
        assert isinstance(event, model) and event.type == event_type


def test_binary_mode_reads_ce_headers():
    env = example("ctao.acada.weather")
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"abc"),
        ("ce_source", b"src"),
        ("ce_type", b"ctao.acada.weather"),
        ("ce_time", b"2026-11-24T21:00:00Z"),
        ("content-type", b"application/json"),
    ]
    event = codec.decode(json.dumps(env["data"]).encode(), headers)
    assert (event.id, event.source, event.type) == ("abc", "src", "ctao.acada.weather")
    assert event.data.ground.pressure_hpa == env["data"]["ground"]["pressure_hpa"]


@pytest.mark.parametrize(
    ("payload", "error", "fragment"),
    [
        (b"{not json", MalformedMessage, "invalid JSON"),
        (b"[1, 2]", MalformedMessage, "JSON object"),
        (b'{"specversion": "1.0", "id": "1", "source": "s"}', MalformedMessage, "'type'"),
        (
            b'{"specversion": "1.0", "id": "1", "source": "s", "type": "x.y"}',
            UnknownEventType,
            "'x.y'",
        ),
    ],
)
def test_undecodable_messages(payload, error, fragment):
    with pytest.raises(error) as info:
        codec.decode(payload)
    assert fragment in info.value.detail


def test_envelope_errors_are_malformed_and_data_errors_are_schema_violations():
    env = example("ctao.acada.weather")
    del env["id"]
    with pytest.raises(MalformedMessage, match="id: Field required"):
        codec.decode(json.dumps(env).encode())
    env = example("ctao.acada.pedestal_run", tel_id=0)
    with pytest.raises(SchemaViolation, match=r"data\.tel_id"):
        codec.decode(json.dumps(env).encode())


def test_extra_data_fields_and_nan_are_rejected():
    with pytest.raises(SchemaViolation, match="surprise"):
        codec.decode(json.dumps(example("ctao.acada.weather", surprise=1)).encode())
    env = example("ctao.acada.trigger_rates")
    env["data"]["telescopes"][0]["rate_hz"] = float("nan")
    with pytest.raises(SchemaViolation, match="rate_hz"):
        codec.decode(json.dumps(env).encode())  # json.dumps writes NaN


def test_peek_recovers_what_it_can():
    assert codec.peek(b"garbage") == {}
    assert codec.peek(b'{"id": "7", "type": "t", "data": 1}') == {"id": "7", "type": "t"}
