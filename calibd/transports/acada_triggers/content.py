"""What an ACADA data file holds, told by its primary header, not its name.

ACADA's DL0/R1 files carry ctao-datamodel reference metadata: `DATATYPE` (Calibration,
MuonCandidate, AirShower, Trigger), `DATALEVL` (DL0, R1), `DATAASSO` (Telescope, Subarray),
`OBS_ID`, `SB_ID`, `AE_ID`, `CHUNK_ID`, `DATASRC` (the writer stream, e.g. SDH000), `OBSNIGHT`.
calibd's own dedicated-run files carry `RUNTYPE` instead (schemas/formats/camera_run.md).
Only the primary header is read (astropy), whatever the file's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibd.errors import BadInput

__all__ = ["IGNORED_DATATYPES", "FileContent", "read_content"]

#: DATATYPEs calibd does not calibrate from, and why (recorded in the ledger as ignored)
IGNORED_DATATYPES = {
    "MUONCANDIDATE": (
        "DL0 muon candidate events: the muon throughput needs ring parameters fitted upstream "
        "(ctapipe-process DL1 muon tables), sent as ctao.acada.muon_data"
    ),
    "AIRSHOWER": "air-shower candidate events are not calibration input",
    "TRIGGER": "subarray trigger events are not calibration input",
}


@dataclass(frozen=True)
class FileContent:
    """The primary-header facts of one file (None where a keyword is absent)."""

    datatype: str | None
    data_level: str | None
    association: str | None
    runtype: str | None
    obs_id: int | None
    sb_id: int | None
    ae_id: int | None
    chunk_id: int | None
    data_source: str | None
    obs_night: str | None

    @property
    def ignored_because(self) -> str | None:
        """Why calibd does not act on this file, or None."""
        return IGNORED_DATATYPES.get((self.datatype or "").upper())

    @property
    def is_calibration_stream(self) -> bool:
        """A DL0/R1 telescope file of interleaved calibration events."""
        return (self.datatype or "").upper() == "CALIBRATION"


def read_content(path: Path) -> FileContent:
    """The primary header's facts; BadInput naming the file when it cannot be read."""
    from astropy.io import fits

    try:
        header = fits.getheader(path, ext=0)
    except Exception as exc:
        raise BadInput(f"{path}: cannot read the primary header: {exc}") from None

    def text(key: str) -> str | None:
        value = header.get(key)
        return None if value is None else str(value).strip()

    def integer(key: str) -> int | None:
        value: Any = header.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadInput(f"{path}: primary header {key} = {value!r} is not a count")
        return value

    return FileContent(
        datatype=text("DATATYPE"),
        data_level=text("DATALEVL"),
        association=text("DATAASSO"),
        runtype=text("RUNTYPE"),
        obs_id=integer("OBS_ID"),
        sb_id=integer("SB_ID"),
        ae_id=integer("AE_ID"),
        chunk_id=integer("CHUNK_ID"),
        data_source=text("DATASRC"),
        obs_night=text("OBSNIGHT"),
    )
