"""Pure helpers: the Kafka offset tracker and DL0 file names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calibd.transports.acada_triggers.names import parse_dl0_name
from calibd.transports.kafka.offsets import OffsetTracker


def test_offsets_commit_only_past_a_finished_prefix():
    t = OffsetTracker()
    for off in (10, 11, 12, 13):
        t.started("p0", off)
    t.finished("p0", 12)
    assert t.take_committable() == {}
    t.finished("p0", 10)
    assert t.take_committable() == {"p0": 11}
    t.finished("p0", 11)
    assert t.take_committable() == {"p0": 13}
    assert t.take_committable() == {}  # nothing changed since
    t.finished("p0", 13)
    assert t.take_committable(["p1"]) == {}
    assert t.take_committable(["p0"]) == {"p0": 14}
    assert t.pending("p0") == 0


def test_revoked_partitions_are_forgotten():
    t = OffsetTracker()
    t.started("p0", 5)
    t.forget(["p0"])
    t.finished("p0", 5)
    assert t.take_committable() == {}


def test_dl0_name_parts():
    name = parse_dl0_name(
        "TEL001_SDH0000_20231013T220427_SBID0000000002_OBSID0000000200_TEL_CAL_CHUNK007.fits.fz"
    )
    assert (name.tel_id, name.sb_id, name.obs_id, name.stream, name.chunk_id) == (
        1,
        2,
        200,
        "CAL",
        7,
    )
    assert name.start == datetime(2023, 10, 13, 22, 4, 27, tzinfo=UTC)
    sub = parse_dl0_name(
        "SUB002_SDH0000_20231013T220427_SBID0000000002_OBSID0000000200_SUB_SUBARRAY_CHUNK000.fits.fz"
    )
    assert sub.tel_id is None and sub.unit_id == 2
    acada = parse_dl0_name(  # ACADA's sub-array files have no scope before the stream
        "SUB001_SWAT001_20260101T220000_SBID4000000001_OBSID4000000001_SUBARRAY_CHUNK000.fits.fz"
    )
    assert (acada.unit_id, acada.source, acada.stream, acada.obs_id) == (
        1,
        "SWAT001",
        "SUBARRAY",
        4000000001,
    )


@pytest.mark.parametrize(
    "bad",
    [
        "TEL001_SDH0000_20231013T220427_SBID2_OBSID2_SUB_CAL_CHUNK000.fits.fz",  # scopes disagree
        "TEL001_SDH0000_20231399T220427_SBID2_OBSID2_TEL_CAL_CHUNK000.fits.fz",  # month 13
        "TEL001_SDH0000_20231013T220427_SBID2_OBSID2_TEL_DARK_CHUNK000.fits.fz",  # unknown stream
        "TEL001_SDH0000_20231013T220427_SBID2_OBSID2_CAL_CHUNK000.fits.fz",  # no TEL scope
        "notes.txt",
    ],
)
def test_bad_dl0_names(bad):
    with pytest.raises(ValueError, match="DL0|disagree|invalid time"):
        parse_dl0_name(bad)
