"""The content digest of the dedup ledger: canonical, versioned, and compatible with the digests
older ledgers hold."""

from __future__ import annotations

import json

from calibd.codec import decode
from calibd.events.examples import EXAMPLES
from calibd.pipeline.dedup import VERSION, conflict, digest, legacy_digest


def event(doc: dict, **data):
    doc = json.loads(json.dumps(doc))
    doc["data"] = {**doc["data"], **data}
    return decode(json.dumps(doc).encode())


def test_the_digest_ignores_key_order_and_whitespace_and_sees_content():
    doc = EXAMPLES["ctao.acada.fram_down"]
    a = decode(json.dumps(doc).encode())
    b = decode(json.dumps(dict(reversed(list(doc.items()))), indent=3).encode())
    assert digest(a) == digest(b) and digest(a).startswith(VERSION)
    other = event(doc, reason="some other reason")
    assert digest(other) != digest(a)
    assert conflict(other, digest(other), digest(a)).reason == "conflicting_duplicate"
    assert conflict(a, digest(a), digest(b)) is None and conflict(a, digest(a), None) is None


def test_a_ledger_row_of_the_legacy_digest_is_a_duplicate_not_a_conflict():
    doc = EXAMPLES["ctao.acada.fram_data"]
    a = decode(json.dumps(doc).encode())
    old = legacy_digest(a)
    assert not old.startswith(VERSION) and old != digest(a)
    assert conflict(a, digest(a), old) is None
    other = event(doc, site="CTAO-South")
    assert conflict(other, digest(other), old).reason == "conflicting_duplicate"


def test_what_orjson_cannot_write_has_a_digest_too():
    """A lone surrogate (calibd's JSON parser refuses the escape, but an event built in Python
    may hold one): orjson refuses it, json writes it; the digest is stable and tells contents
    apart."""
    plain = decode(json.dumps(EXAMPLES["ctao.acada.fram_down"]).encode())
    odd = plain.model_copy(update={"data": plain.data.model_copy(update={"reason": "\ud800"})})
    assert digest(odd) == digest(odd.model_copy()) and digest(odd).startswith(VERSION)
    assert digest(odd) != digest(plain)
