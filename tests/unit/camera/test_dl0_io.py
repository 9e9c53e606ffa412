"""DL0 CAL files: simulate_dl0_block -> files laid out as ACADA's -> open_dl0/iter_dl0_events give
back the truth's values within the uint16 quantisation; DVR, reversed pixel maps, gain selection."""

from __future__ import annotations

import os
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from calibd.handlers.camera.dl0_reader import iter_dl0_events, open_dl0
from calibd.handlers.camera.dl0_simulate import block_event, simulate_dl0_block

START = datetime(2026, 1, 1, 22, 0, 0, tzinfo=UTC)
SB_ID, OBS_ID = 4_000_000_101, 4_000_000_201
MODEL = {"n_pixels": 1855, "n_samples": 40, "dead": [3], "hot": [5], "noisy": [7], "seed": 11}
PRIMARY_KEYS = [
    "CTAOMETA",
    "TITLE",
    "DATALEVL",
    "DATADIV",
    "DATAASSO",
    "DATATYPE",
    "DATAID",
    "OBS_ID",
    "AE_ID",
    "AE_CLASS",
    "CHUNK_ID",
    "OBSNIGHT",
    "TELESCOP",
    "DATASRC",
    "RELEASE",
    "LICENSE",
    "LICENURL",
    "MODEL",
    "MODELVER",
    "MODELURL",
    "CREATED",
    "AUTHOR",
    "ORIGIN",
    "EMAIL",
    "ACTPROC",
    "ACTIVITY",
    "ACTDESC",
    "ACTID",
    "ACTSTART",
    "SOFTWARE",
    "SOFTVER",
    "SOFTURL",
    "ACTCONF",
    "SB_ID",
]


def block(tmp_path, model=None, n_events=24, **kw):
    args = {"tel_id": 1, "sb_id": SB_ID, "obs_id": OBS_ID, "start": START, "chunk_size": 4}
    return simulate_dl0_block(tmp_path, model or MODEL, n_events, seed=5, **(args | kw))


def read_all(path, chunk_size=100, event_types=None):
    header = open_dl0(path)
    chunks = list(iter_dl0_events(path, header, chunk_size, event_types))
    return header, chunks


def test_block_files_names_triggers_and_headers(tmp_path):
    from calibd.handlers.camera import dl0_writer

    assert dl0_writer.simulate_dl0_block is simulate_dl0_block
    truth = block(tmp_path)
    names = sorted(os.path.basename(f) for f in truth.files)
    expected = [
        f"TEL001_SDH{s:03d}_20260101T220000_SBID{SB_ID:010d}_OBSID{OBS_ID:010d}_TEL_CAL_CHUNK{c:03d}"
        ".fits.fz"
        for s in range(4)
        for c in range(2)
    ]
    assert names == expected
    for f in truth.files:
        trigger = f + ".trigger"
        assert os.path.islink(trigger) and os.readlink(trigger) == os.path.basename(f)
    with fits.open(truth.files[3]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "DataStream", "CameraConfiguration", "Events"]
        assert hdul["Events"].header["PBFHEAD"] == "DL0v1.Telescope.Event"
        primary = hdul[0].header
        keys = [k for k in primary if k not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "COMMENT")]
        keys = [k for k in keys if k not in ("CHECKSUM", "DATASUM")]
        assert keys == PRIMARY_KEYS
        assert all(len(primary[k]) <= 68 for k in keys if isinstance(primary[k], str))
        assert len(primary["MODELURL"]) == 68  # cut: protozfits writes no CONTINUE cards
        assert primary["DATASRC"] == "SDH001" and primary["CHUNK_ID"] == 1
    header = open_dl0(truth.files[3])
    assert (header.tel_id, header.obs_id, header.sb_id, header.chunk_id) == (1, OBS_ID, SB_ID, 1)
    assert (header.data_type, header.data_source, header.obs_night) == (
        "Calibration",
        "SDH001",
        "2026-01-01",
    )
    assert (header.n_pixels, header.n_channels, header.n_samples_nominal) == (1855, 1, 40)
    assert header.n_events == 2  # stream 1 holds events 2, 6, 10, 14 (chunk 0) and 18, 22
    assert (header.waveform_scale, header.waveform_offset) == (60.0, 5.0)


def test_round_trip_values_ids_types_times(tmp_path):
    truth = block(tmp_path, n_streams=3, chunk_size=5)  # 3 streams: types alternate in a file
    q = 0.5 / truth.waveform_scale + 1e-4  # uint16 rounding, plus float32 arithmetic
    seen = []
    for f in truth.files:
        _, chunks = read_all(f, chunk_size=2)
        assert [len(c) for c in chunks[:-1]] == [2] * (len(chunks) - 1)
        for c in chunks:
            for k, event_id in enumerate(c.event_id):
                i = event_id - 1
                event_type, pe, gain = block_event(truth, int(i))
                assert c.event_type[k] == event_type == truth.event_type[i]
                np.testing.assert_allclose(c.waveform[k], pe, rtol=0, atol=q)
                assert np.all(c.gain[k] == 0) and not np.any(gain)
                assert (c.time_s[k], c.time_qns[k]) == (truth.time_s[i], truth.time_qns[i])
                t = Time(c.time_s[k], c.time_qns[k] * 0.25e-9, format="unix_tai")
                assert abs(c.mjd_tai[k] - t.tai.mjd) * 86400 < 2e-5
                seen.append(int(event_id))
        assert set(np.unique(truth.stream[np.array(seen[-1:]) - 1])) <= {0, 1, 2}
    assert sorted(seen) == list(range(1, 25))
    _, first = read_all(truth.files[0])
    assert set(first[0].event_type) == {0, 2}
    # ACADA's calibration trigger: a flat-field and a pedestal event share each timestamp
    assert truth.time_s[0] - 37 == int(Time(START).unix)
    assert (truth.time_s[1], truth.time_qns[1]) == (truth.time_s[0], truth.time_qns[0])
    assert truth.time_qns[2] - truth.time_qns[0] == 4e9 / 100


def test_event_type_selection_and_residual_truth(tmp_path):
    truth = block(tmp_path, n_events=48, n_streams=1, chunk_size=48)
    _, peds = read_all(truth.files[0], chunk_size=7, event_types=[2])
    _, flats = read_all(truth.files[0], chunk_size=100, event_types={0})
    wf_ped = np.concatenate([c.waveform for c in peds])[:, 0]
    wf_ff = np.concatenate([c.waveform for c in flats])[:, 0]
    assert [len(c) for c in peds] == [7, 7, 7, 3] and len(wf_ff) == 24
    assert np.all(np.concatenate([c.event_type for c in peds]) == 2)
    # pedestal events: the residual pedestal per sample (hot pixel 5 stands out) and the noise
    ped = wf_ped.mean(axis=(0, 2))
    n_samples = wf_ped.shape[0] * wf_ped.shape[2]
    tolerance = 5 * truth.noise_pe[0] / np.sqrt(n_samples) + 0.002
    assert np.all(np.abs(ped - truth.pedestal_residual[0]) < tolerance)
    assert ped[5] > 1.5 and abs(np.median(ped)) < 0.02
    noise = wf_ped.std(axis=(0, 2))
    np.testing.assert_allclose(noise, truth.noise_pe[0], rtol=0.12)
    assert noise[7] > 3 * np.median(noise)
    # flat-field events: full-trace sum minus pedestal = relative gain x photo-electrons
    charge = (wf_ff - ped[None, :, None]).sum(axis=-1).mean(axis=0)
    expected = truth.relative_gain[0] * truth.n_pe_mean
    assert abs(np.median(charge / np.where(expected > 0, expected, 1)) - 1) < 0.01
    assert abs(charge[3]) < 0.5  # dead pixel
    assert 0.9 < np.median(truth.relative_gain[0]) < 1.1 and truth.relative_gain.std() > 0.05
    # the pulse peaks at pulse_time + time offset (trigger jitter averages out)
    peak = np.argmax(wf_ff.mean(axis=0), axis=-1)
    good = expected > 10
    dt = peak[good] - (15 + truth.time_offset[good])
    assert np.abs(dt).max() <= 1.0


def test_dvr_pixels_not_stored_are_nan(tmp_path):
    missing = list(range(100, 400))
    truth = block(tmp_path, MODEL | {"nan_pixels": missing}, n_events=8, n_streams=2)
    from protozfits import File

    with File(truth.files[0]) as f:
        ev = f.Events[0]
        assert ev.num_pixels_survived == 1855 - 300
        assert ev.waveform.size == 1555 * 40
        assert np.count_nonzero(ev.pixel_status & 3) == 1555
    _, chunks = read_all(truth.files[0])
    c = chunks[0]
    assert np.isnan(c.waveform[:, :, missing]).all()
    assert not np.isnan(np.delete(c.waveform, missing, axis=2)).any()
    assert np.all(c.gain[:, missing] == -1) and np.all(np.delete(c.gain, missing, axis=1) == 0)
    _, pe, _ = block_event(truth, int(c.event_id[0]) - 1)
    keep = np.setdiff1d(np.arange(1855), missing)
    np.testing.assert_allclose(c.waveform[0][:, keep], pe[:, keep], atol=0.5 / 60 + 1e-4)


def test_reversed_pixel_id_map_gives_nominal_order(tmp_path):
    reversed_map = np.arange(1855)[::-1].copy()
    model = MODEL | {"nan_pixels": [0, 1, 2]}
    straight = block(tmp_path / "a", model, n_events=4, n_streams=1)
    flipped = block(tmp_path / "b", model, n_events=4, n_streams=1, pixel_id_map=reversed_map)
    from protozfits import File

    with File(flipped.files[0]) as f:
        assert np.array_equal(f.CameraConfiguration[0].pixel_id_map, reversed_map)
        status = f.Events[0].pixel_status
        assert np.all(status[-3:] & 3 == 0) and np.all(status[:-3] & 3 != 0)  # readout order
        stored = f.Events[0].waveform.reshape(1, 1852, 40)
    with File(straight.files[0]) as f:
        assert np.array_equal(f.Events[0].waveform.reshape(1, 1852, 40), stored[:, ::-1])
    _, a = read_all(straight.files[0])
    _, b = read_all(flipped.files[0])
    np.testing.assert_array_equal(a[0].waveform, b[0].waveform)
    assert np.isnan(b[0].waveform[:, :, :3]).all()
    assert np.array_equal(a[0].pixel_status, b[0].pixel_status)


def test_gain_selected_low_gain_pixels(tmp_path):
    truth = block(tmp_path, n_events=6, n_streams=1, gain_switch_pe=85.0)
    _, chunks = read_all(truth.files[0])
    c = chunks[0]
    for k, event_id in enumerate(c.event_id):
        event_type, pe, gain = block_event(truth, int(event_id) - 1)
        assert np.array_equal(c.gain[k], gain)
        # the low gain's residual pedestal can go below -waveform_offset: stored as 0
        clipped = np.clip(pe, -truth.waveform_offset, None)
        np.testing.assert_allclose(c.waveform[k], clipped, atol=0.5 / 60 + 1e-4)
        assert (gain == 1).sum() > (100 if event_type == 0 else -1)
        if event_type == 2:
            assert not gain.any()
    low = c.gain == 1
    assert np.all(c.pixel_status[low] & 0b1100 == 0b1000)
    assert np.all(c.pixel_status[~low] & 0b1100 == 0b0100)


@pytest.mark.parametrize("chunk_size", [1, 3, 50])
def test_chunks_cover_every_event_once(tmp_path, chunk_size):
    truth = block(tmp_path, n_events=10, n_streams=1, chunk_size=10)
    _, chunks = read_all(truth.files[0], chunk_size=chunk_size)
    ids = np.concatenate([c.event_id for c in chunks])
    assert np.array_equal(ids, np.arange(1, 11))
    assert max(len(c) for c in chunks) == min(chunk_size, 10)


def column_compressions(path) -> dict[str, dict[str, tuple[int, ...]]]:
    """Processing ids of each column's first block (zFITS: the tile catalogue holds big-endian
    (size, offset) pairs per column; a block starts <Q size><c order><b n><n x H ids>)."""
    out = {}
    raw = Path(path).read_bytes()
    with fits.open(path) as hdul:
        for i, hdu in enumerate(hdul[1:], start=1):
            h = hdu.header
            start = hdul.fileinfo(i)["datLoc"]
            heap = start + h["ZHEAPPTR"]
            assert raw[heap : heap + 4] == b"TILE"
            columns = {}
            for c in range(h["TFIELDS"]):
                _, offset = struct.unpack(">qq", raw[start + 16 * c : start + 16 * c + 16])
                n = raw[heap + offset + 9]
                ids = struct.unpack(f"<{n}H", raw[heap + offset + 10 : heap + offset + 10 + 2 * n])
                columns[h[f"TTYPE{c + 1}"]] = ids
            out[h["EXTNAME"]] = columns
    return out


def test_column_compression_as_acada(tmp_path):
    truth = block(tmp_path, n_events=4, n_streams=1)
    compressions = column_compressions(truth.files[0])
    assert list(compressions) == ["DataStream", "CameraConfiguration", "Events"]
    assert compressions["Events"].pop("waveform") == (1, 2)  # fact = smoothing + huffman16
    assert {"pixel_status", "event_time_qns"} <= set(compressions["Events"])
    assert "num_pixels" in compressions["CameraConfiguration"]
    for columns in compressions.values():
        assert set(columns.values()) == {(3, 2)}, columns  # diffman16 = diff + huffman16
