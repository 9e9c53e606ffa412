"""schemas/ is generated from the models and must not be stale; every example validates."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from calibd.events import INBOUND_MODELS, OUTBOUND_MODELS, model_for
from calibd.schemas_export import check, render

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ALL_TYPES = sorted({**INBOUND_MODELS, **OUTBOUND_MODELS})


def test_committed_schema_files_are_up_to_date():
    stale = check(SCHEMAS)
    assert not stale, f"run `calibd schemas export`; stale: {stale}"


def test_every_type_has_schema_and_example():
    files = render()
    for t in ALL_TYPES:
        assert f"json/{t}.schema.json" in files and f"examples/{t}.json" in files


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_validates_against_model_and_json_schema(event_type):
    example = json.loads((SCHEMAS / "examples" / f"{event_type}.json").read_text())
    schema = json.loads((SCHEMAS / "json" / f"{event_type}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)
    model_for(event_type).model_validate(example)


def test_json_schema_rejects_what_the_model_rejects():
    schema = json.loads((SCHEMAS / "json" / "ctao.acada.pedestal_run.schema.json").read_text())
    example = json.loads((SCHEMAS / "examples" / "ctao.acada.pedestal_run.json").read_text())
    example["data"]["tel_id"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, schema)


def test_asyncapi_references_resolve():
    doc = json.loads((SCHEMAS / "asyncapi.json").read_text())
    assert doc["asyncapi"].startswith("3.")
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"].split("/")[-1]
        assert channel in doc["channels"]
        for ref in op["messages"]:
            assert ref["$ref"].split("/")[-1] in doc["channels"][channel]["messages"]
    for msg in doc["components"]["messages"].values():
        assert (SCHEMAS / msg["payload"]["$ref"]).is_file()
