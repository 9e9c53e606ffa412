"""Corrupt or hostile DL0 files are refused with a BadInput whose message starts with the file name
and says what is wrong; nothing crashes and nothing over the stated limits is allocated."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from calibd.handlers.camera import dl0_checks, dl0_reader
from calibd.handlers.camera.dl0_reader import iter_dl0_events, open_dl0
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block
from protozfits import FlatProtobufZOFits, numpy_to_any_array
from protozfits.DL0v1_Subarray_pb2 import Event as SubarrayEvent
from protozfits.DL0v1_Telescope_pb2 import CameraConfiguration, DataStream, Event

from calibd.errors import BadInput

N_PIX, N_SAMP = 7, 4
NAME = "TEL001_SDH000_20260101T220000_SBID0000000001_OBSID0000000002_TEL_CAL_CHUNK000.fits.fz"


def ds(**kw) -> DataStream:
    args = {"tel_id": 1, "sb_id": 1, "obs_id": 2, "waveform_scale": 60.0, "waveform_offset": 5.0}
    return DataStream(**(args | kw))


def cc(pixel_id_map=None, **kw) -> CameraConfiguration:
    pid = np.arange(N_PIX, dtype=np.uint16) if pixel_id_map is None else pixel_id_map
    args = {"tel_id": 1, "num_pixels": N_PIX, "num_channels": 1, "num_samples_nominal": N_SAMP}
    return CameraConfiguration(pixel_id_map=numpy_to_any_array(pid), **(args | kw))


def event(waveform=None, status=None, **kw) -> Event:
    wf = np.full(N_PIX * N_SAMP, 300, dtype=np.uint16) if waveform is None else waveform
    st = np.full(N_PIX, 0b0101, dtype=np.uint8) if status is None else status
    args = {"event_id": 1, "tel_id": 1, "event_type": 2, "event_time_s": 1_800_000_000}
    args |= {"event_time_qns": 0, "num_channels": 1, "num_samples": N_SAMP}
    args |= {"num_pixels_survived": N_PIX}
    return Event(
        waveform=numpy_to_any_array(wf), pixel_status=numpy_to_any_array(st), **(args | kw)
    )


def write(tmp_path, tables: dict[str, list], name: str = NAME) -> str:
    """A protobuf-zFITS file with the given tables (extname -> messages), ACADA's writer."""
    path = os.fspath(tmp_path / name)
    f = FlatProtobufZOFits(
        n_tiles=1, rows_per_tile=100, default_compression="diffman16",
        compression_block_size_kb=4096,
    )  # fmt: skip
    f.open(path)
    for key, value in (("OBS_ID", 2), ("SB_ID", 1), ("AE_ID", 1)):
        f.set_primary_int(key, value)
    for extname, messages in tables.items():
        f.move_to_new_table(extname)
        for m in messages:
            f.write_message(m)
    f.close()
    f.flush()
    return path


def good_tables(**events) -> dict[str, list]:
    return {"DataStream": [ds()], "CameraConfiguration": [cc()], "Events": [event(**events)]}


def refused(path, match: str, chunk_size: int = 10) -> str:
    with pytest.raises(BadInput, match=match) as info:
        header = open_dl0(path)
        list(iter_dl0_events(path, header, chunk_size))
    message = str(info.value)
    assert message.startswith(os.path.basename(path) + ": "), message
    return message


def test_a_good_small_file_reads(tmp_path):
    path = write(tmp_path, good_tables())
    header = open_dl0(path)
    (chunk,) = iter_dl0_events(path, header, 10)
    np.testing.assert_allclose(chunk.waveform, 0.0, atol=1e-6)  # 300 / 60 - 5
    assert chunk.waveform.shape == (1, 1, N_PIX, N_SAMP) and header.data_type is None


def test_not_fits_empty_and_truncated(tmp_path):
    text = tmp_path / "notes.fits.fz"
    text.write_text("hello, this is not FITS\n" * 200)
    refused(text, "not a FITS file")
    empty = tmp_path / "empty.fits.fz"
    empty.write_bytes(b"")
    refused(empty, "not a FITS file")
    good = simulate_dl0_block(
        tmp_path, {"n_pixels": 1855, "n_samples": 40}, 8, tel_id=1, sb_id=1, obs_id=2,
        start=datetime(2026, 1, 1, 22, tzinfo=UTC), n_streams=1, chunk_size=8, seed=0,
    ).files[0]  # fmt: skip
    size = os.path.getsize(good)
    for n_bytes in (int(size * 0.9), int(size * 0.5), int(size * 0.01), 2880 * (size // 5760)):
        cut = tmp_path / f"cut{n_bytes}_{NAME}"
        shutil.copy(good, cut)
        os.truncate(cut, n_bytes)
        refused(cut, "truncated: ")
    refused(tmp_path / "absent.fits.fz", "cannot read: No such file")


def test_wrong_hdus_and_pbfhead(tmp_path):
    subarray = SubarrayEvent(event_id=1, obs_id=2, event_time_s=1, event_time_qns=0)
    path = write(tmp_path, {"DataStream": [ds()], "SubarrayEvents": [subarray]}, "sub.fits.fz")
    refused(path, "HDU Events missing")
    tables = {"DataStream": [ds()], "CameraConfiguration": [cc()], "Events": [subarray]}
    refused(write(tmp_path, tables, "wrong.fits.fz"), "PBFHEAD 'DL0v1.Subarray.Event'")
    tables = {"DataStream": [ds()], "Events": [event()]}
    refused(write(tmp_path, tables, "nocc.fits.fz"), "HDU CameraConfiguration missing")
    tables = {"DataStream": [cc()], "CameraConfiguration": [cc()], "Events": [event()]}
    refused(write(tmp_path, tables, "swap.fits.fz"), "HDU DataStream has PBFHEAD")


@pytest.mark.parametrize(
    ("tables", "match"),
    [
        ({"DataStream": [ds(tel_id=2)]}, "tel_id disagree: DataStream=2, CameraConfiguration=1"),
        ({"DataStream": [ds(obs_id=3)]}, "obs_id disagree"),
        ({"DataStream": [DataStream(tel_id=1, obs_id=2)]}, "waveform_scale/waveform_offset not"),
        ({"DataStream": [ds(waveform_scale=0.0)]}, "waveform_scale 0.0"),
        ({"CameraConfiguration": [cc(np.array([0, 1, 2, 3, 4, 5, 5], np.uint16))]}, "permutat"),
        ({"CameraConfiguration": [cc(np.array([0, 1, 2, 3, 4, 5, 9], np.uint16))]}, "permutat"),
        ({"CameraConfiguration": [cc(num_pixels=8)]}, "num_pixels 8 != len"),
        ({"CameraConfiguration": [cc(num_channels=3)]}, "num_channels 3 not 1 or 2"),
    ],
)
def test_inconsistent_configuration(tmp_path, tables, match):
    refused(write(tmp_path, good_tables() | tables), match)


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ({"num_samples": 5}, r"waveform has 28 values, .* 1 x 7 x 5 = 35"),
        ({"waveform": np.zeros(N_PIX * N_SAMP + 1, np.uint16)}, "waveform has 29 values"),
        ({"num_pixels_survived": 8}, "num_pixels_survived 8 unset or over num_pixels 7"),
        ({"num_pixels_survived": 6}, "6 survived"),  # 7 pixels carry DVR bits
        ({"status": np.zeros(6, np.uint8)}, "pixel_status .* is not 7 uint8"),
        ({"waveform": np.zeros(N_PIX * N_SAMP, np.float32)}, "waveform is float32"),
        ({"num_channels": 2}, "num_channels 2, the camera 1"),
        ({"num_samples": 0}, "num_samples 0"),
        ({"num_samples": 1001}, "num_samples 1001 unset or outside"),
        ({"event_time_qns": 4_000_000_000}, "event_time_qns 4000000000"),
        ({"tel_id": 3}, "tel_id 3, the file 1"),
    ],
)
def test_hostile_events(tmp_path, events, match):
    message = refused(write(tmp_path, good_tables(**events)), match)
    assert "event row 0" in message


def test_missing_fields_and_later_shape_change(tmp_path):
    missing = Event(event_id=1, event_type=2, event_time_s=1, event_time_qns=0, num_channels=1)
    tables = good_tables() | {"Events": [missing]}
    refused(write(tmp_path, tables, "a.fits.fz"), "num_samples None unset")
    second = event(event_id=2, num_samples=3, waveform=np.zeros(N_PIX * 3, np.uint16))
    tables = good_tables() | {"Events": [event(), second]}
    refused(write(tmp_path, tables, "b.fits.fz"), r"event row 1 has \(channels, samples\)")


def test_size_limits_checked_before_decoding(tmp_path, monkeypatch):
    path = write(tmp_path, good_tables())
    monkeypatch.setattr(dl0_checks, "MAX_ROW_BYTES", 32)
    refused(path, "HDU Events rows of .* bytes, over the limit 32")
    monkeypatch.undo()
    monkeypatch.setattr(dl0_reader, "MAX_CHUNK_BYTES", 100)
    refused(path, "a chunk of 10 events of 112 bytes is over the limit 100")
    monkeypatch.undo()
    monkeypatch.setattr(dl0_checks, "MAX_EVENTS", 0)
    refused(path, "has 1 rows, over 0")


def r1_tables(**kw) -> dict[str, list]:
    from protozfits import R1v1_pb2 as r1

    pid = numpy_to_any_array(np.arange(N_PIX, dtype=np.uint16)[::-1].copy())
    wf = np.arange(2 * N_PIX * N_SAMP, dtype=np.uint16) + 300
    args = {"event_id": 7, "tel_id": 1, "event_type": 0, "event_time_s": 1_800_000_000}
    args |= {"event_time_qns": 123, "num_channels": 2, "num_samples": N_SAMP, "num_pixels": N_PIX}
    return {
        "DataStream": [r1.TelescopeDataStream(tel_id=1, obs_id=2, sb_id=1, waveform_scale=10.0,
                                              waveform_offset=30.0)],
        "CameraConfiguration": [r1.CameraConfiguration(tel_id=1, pixel_id_map=pid,
                                                       num_pixels=N_PIX, num_channels=2)],
        "Events": [r1.Event(waveform=numpy_to_any_array(wf), **(args | kw))],
    }  # fmt: skip


def test_r1_file_two_gains_reversed_map(tmp_path):
    path = write(tmp_path, r1_tables(), "r1.fits.fz")
    header = open_dl0(path)
    assert (header.level, header.n_channels, header.n_pixels) == ("R1", 2, N_PIX)
    (chunk,) = iter_dl0_events(path, header, 4)
    assert chunk.gain is None and chunk.waveform.shape == (1, 2, N_PIX, N_SAMP)
    stored = (np.arange(2 * N_PIX * N_SAMP) + 300).reshape(2, N_PIX, N_SAMP) / 10.0 - 30.0
    np.testing.assert_allclose(chunk.waveform[0], stored[:, ::-1], atol=1e-4)  # nominal order
    assert (chunk.event_id[0], chunk.event_type[0], chunk.time_qns[0]) == (7, 0, 123)
    refused(write(tmp_path, r1_tables(num_pixels=6), "r1b.fits.fz"), "num_pixels 6")
    dl0_events = good_tables()["Events"]
    refused(write(tmp_path, r1_tables() | {"Events": dl0_events}, "mix.fits.fz"), "DataStream has")


@pytest.mark.parametrize(
    ("where", "match"),
    [
        (0.5, "corrupt: HDU Events data sum \\d+ != DATASUM"),  # inside the compressed heap
        (0.97, "corrupt: HDU Events data sum"),
        (0.0005, "corrupt: HDU PRIMARY fails its CHECKSUM"),  # a header card's value
    ],
)
def test_corrupt_bytes_never_reach_the_decoder(tmp_path, where, match):
    """Random bytes in the heap made protozfits' decoder segfault: checksums catch them first."""
    good = simulate_dl0_block(
        tmp_path, {"n_pixels": 1855, "n_samples": 40}, 4, tel_id=1, sb_id=1, obs_id=2,
        start=datetime(2026, 1, 1, 22, tzinfo=UTC), n_streams=1, chunk_size=8, seed=0,
    ).files[0]  # fmt: skip
    raw = bytearray(Path(good).read_bytes())
    at = int(len(raw) * where)
    raw[at : at + 8] = b"12345678" if where < 0.01 else bytes(range(200, 208))
    bad = tmp_path / "corrupt.fits.fz"
    bad.write_bytes(bytes(raw))
    refused(bad, match)
