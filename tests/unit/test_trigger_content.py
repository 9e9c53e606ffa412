"""ACADA trigger files told apart by what the file holds (its primary header), on files and
headers written by ACADA's emulation ctao-acada-mock (tests/data/acada_mock/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from astropy.io import fits

from calibd import codec
from calibd.config import AcadaTriggerSettings
from calibd.errors import BadInput
from calibd.events.acada import CalibrationStreamFileEvent
from calibd.transports.acada_triggers.source import trigger_event

MOCK = Path(__file__).resolve().parents[1] / "data" / "acada_mock"
BLOCK = "20260101T220000_SBID4000000001_OBSID4000000001"
SUBARRAY = f"SUB001_SWAT001_{BLOCK}_SUBARRAY_CHUNK000.fits.fz"
MUON = f"TEL001_SDH000_{BLOCK}_TEL_MUON_CHUNK000.fits.fz"


def triggered(directory: Path, name: str, header: fits.Header | None = None) -> Path:
    """`name` in `directory` (copied from the fixtures, or a file with `header`) and its
    relative `.trigger` symlink, as ACADA leaves them."""
    if header is None:
        shutil.copy(MOCK / name, directory / name)
    else:
        fits.PrimaryHDU(header=header).writeto(directory / name)
    os.symlink(name, directory / f"{name}.trigger")
    return directory / f"{name}.trigger"


def mock_header(kind: str, **changes) -> fits.Header:
    text = (MOCK / f"{kind}.primary_header.txt").read_text()
    header = fits.Header.fromstring(text, sep="\n")
    for key, value in changes.items():
        if value is None:
            del header[key]
        else:
            header[key] = value
    return header


def event_of(trigger: Path, tmp_path: Path) -> bytes | str:
    return trigger_event(trigger, AcadaTriggerSettings(), [tmp_path.resolve()])


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        (SUBARRAY, None, "Trigger: subarray trigger events"),
        (MUON, None, "MuonCandidate: DL0 muon candidate events: the muon throughput needs"),
        (f"TEL001_SDH000_{BLOCK}_TEL_SHOWER_CHUNK000.fits.fz", "SHOWER", "AirShower: air-shower"),
    ],
)
def test_muon_shower_and_subarray_files_are_ignored_with_the_reason(tmp_path, name, kind, reason):
    header = None if kind is None else mock_header(kind)
    assert event_of(triggered(tmp_path, name, header), tmp_path).startswith(reason)


def test_a_calibration_stream_file_becomes_its_event(tmp_path):
    name = f"TEL001_SDH002_{BLOCK}_TEL_CAL_CHUNK003.fits.fz"
    payload = event_of(triggered(tmp_path, name, mock_header("CAL", DATASRC="SDH002")), tmp_path)
    event = codec.decode(payload, None)
    assert isinstance(event, CalibrationStreamFileEvent)
    data = event.data
    assert (data.tel_id, data.sb_id, data.obs_id) == (1, 4000000001, 4000000001)
    assert (data.stream, data.chunk_id, data.data_level) == ("SDH002", 3, "DL0")
    assert data.block_start.isoformat() == "2026-01-01T22:00:00+00:00"
    assert data.obs_night == "2026-01-01" and data.file.uri.endswith(name)
    assert event.subject == name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"AE_ID": 4}, "AE_ID = 4 but the file name says 1"),
        ({"OBS_ID": 7}, "OBS_ID = 7 but the file name says 4000000001"),
        ({"DATALEVL": "DL1"}, "DATALEVL 'DL1' is neither DL0 nor R1"),
        ({"SB_ID": -3}, "SB_ID = -3 is not a count"),
    ],
)
def test_a_calibration_stream_file_whose_header_contradicts_its_name_is_refused(
    tmp_path, changes, message
):
    name = f"TEL001_SDH000_{BLOCK}_TEL_CAL_CHUNK000.fits.fz"
    trigger = triggered(tmp_path, name, mock_header("CAL", **changes))
    with pytest.raises(BadInput, match=message):
        event_of(trigger, tmp_path)


def test_a_file_without_reference_metadata_goes_by_the_stream_map(tmp_path):
    header = fits.Header()
    header["RUNTYPE"] = "PEDESTAL"
    name = f"TEL001_SDH000_{BLOCK}_TEL_CAL_CHUNK000.fits.fz"
    event = codec.decode(event_of(triggered(tmp_path, name, header), tmp_path), None)
    assert event.type == "ctao.acada.pedestal_run"
    shower = f"TEL001_SDH000_{BLOCK}_TEL_SHOWER_CHUNK001.fits.fz"
    why = event_of(triggered(tmp_path, shower, fits.Header()), tmp_path)
    assert why == "stream SHOWER not mapped (acada_triggers.streams)"
    broken = tmp_path / f"TEL001_SDH000_{BLOCK}_TEL_CAL_CHUNK009.fits.fz"
    broken.write_bytes(b"not a FITS file at all" * 200)
    os.symlink(broken.name, tmp_path / f"{broken.name}.trigger")
    with pytest.raises(BadInput, match="cannot read the primary header"):
        event_of(tmp_path / f"{broken.name}.trigger", tmp_path)
