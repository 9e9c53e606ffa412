"""ACADA DL0 file names and trigger files.

ACADA closes a DL0 file and creates the symlink ``<file>.trigger`` beside it: the DPPS
ingestion signal. File names follow (see ../shared/domain.md)::

    TEL<id>_<source>_<YYYYmmddTHHMMSS>_SBID<digits>_OBSID<digits>_TEL_<SHOWER|CAL|MUON>
    _CHUNK<digits>.fits.fz
    SUB<id>_<source>_<YYYYmmddTHHMMSS>_SBID<digits>_OBSID<digits>_SUBARRAY_CHUNK<digits>.fits.fz

`<source>` is the writer's stream (SDH000..SDH003 for a telescope's parallel streams,
SWAT001 for the array trigger); the time is the start of the observation block. The older
sub-array form with a `_SUB_` scope (`..._SUB_SUBARRAY_CHUNK000`) is read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["DL0FileName", "parse_dl0_name"]

_DL0 = re.compile(
    r"^(?P<scope>TEL|SUB)(?P<unit>\d+)_(?P<source>[A-Za-z0-9]+)_(?P<ts>\d{8}T\d{6})"
    r"_SBID(?P<sb_id>\d+)_OBSID(?P<obs_id>\d+)_(?:(?P<scope2>TEL|SUB)_)?"
    r"(?P<stream>SHOWER|CAL|MUON|SUBARRAY)_CHUNK(?P<chunk>\d{3,})\.fits(?:\.fz)?$"
)


@dataclass(frozen=True)
class DL0FileName:
    """The parts of a DL0 file name."""

    scope: str  # TEL or SUB
    unit_id: int  # telescope id (TEL) or sub-array id (SUB)
    source: str
    start: datetime
    sb_id: int
    obs_id: int
    stream: str
    chunk_id: int

    @property
    def tel_id(self) -> int | None:
        return self.unit_id if self.scope == "TEL" else None


def parse_dl0_name(name: str) -> DL0FileName:
    """Parse a DL0 file name; raise ValueError naming what does not match."""
    m = _DL0.match(name)
    if m is None:
        raise ValueError(
            f"{name!r} is not a DL0 file name (<TEL|SUB><id>_<source>_<time>_SBID"
            "<n>_OBSID<n>_[TEL_]<stream>_CHUNK<nnn>.fits.fz)"
        )
    scope2 = m["scope2"] or ("SUB" if m["stream"] == "SUBARRAY" else None)
    if m["scope"] != scope2:
        raise ValueError(f"{name!r}: scope {m['scope']} and {scope2 or 'none'} disagree")
    try:
        start = datetime.strptime(m["ts"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{name!r}: invalid time {m['ts']}") from None
    return DL0FileName(
        scope=m["scope"],
        unit_id=int(m["unit"]),
        source=m["source"],
        start=start,
        sb_id=int(m["sb_id"]),
        obs_id=int(m["obs_id"]),
        stream=m["stream"],
        chunk_id=int(m["chunk"]),
    )
