"""ctapipe-io-zfits 0.5 (the field's reader, through `ctapipe.io.EventSource`) reads the DL0 CAL
files calibd writes and yields the same waveforms (nominal pixel order), event types, event ids
and TAI times as `dl0_reader`."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from calibd.handlers.camera.dl0_reader import iter_dl0_events, open_dl0
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block

pytest.importorskip("ctapipe_io_zfits")

START = datetime(2026, 1, 1, 22, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("CTAPIPE_IO_ZFITS_NO_SERVICE_DATA", "1")


def ours(files) -> dict[int, tuple]:
    """event_id -> (event_type, time_s, time_qns, waveform, pixel_status), by calibd's reader."""
    events = {}
    for f in files:
        header = open_dl0(f)
        for c in iter_dl0_events(f, header, 5):
            for k, event_id in enumerate(c.event_id):
                events[int(event_id)] = (
                    c.event_type[k], c.time_s[k], c.time_qns[k], c.waveform[k], c.pixel_status[k]
                )  # fmt: skip
    return events


def theirs(path, **options) -> dict[int, tuple]:
    from ctapipe.io import EventSource
    from ctapipe_io_zfits.time import time_to_cta_high_res

    events = {}
    with EventSource(path, **options) as source:
        assert type(source).__name__ == "ProtozfitsDL0TelescopeEventSource"
        tel_id = source.tel_id
        for ev in source:
            dl0 = ev.dl0.tel[tel_id]
            t = dl0.event_time
            assert t.scale == "tai" and ev.trigger.time == t
            s, qns = time_to_cta_high_res(t)
            event_type = dl0.event_type.value
            assert ev.trigger.event_type == dl0.event_type
            events[int(ev.index.event_id)] = (
                event_type, int(s), int(qns), dl0.waveform, dl0.pixel_status
            )  # fmt: skip
    return events


def compare(mine: dict, other: dict) -> None:
    assert sorted(mine) == sorted(other) and mine
    for event_id, (event_type, s, qns, wf, status) in other.items():
        m_type, m_s, m_qns, m_wf, m_status = mine[event_id]
        np.testing.assert_array_equal(status, m_status)  # nominal order, DVR and gain bits
        assert (event_type, s, qns) == (m_type, m_s, m_qns), event_id
        assert wf.dtype == np.float32 and wf.shape == m_wf.shape
        np.testing.assert_array_equal(wf, m_wf)  # bit-identical, NaN where not stored


def test_ctapipe_reads_all_streams_of_a_chunk_like_calibd(tmp_path):
    model = {"n_pixels": 1855, "n_samples": 40, "dead": [3], "hot": [5], "seed": 2}
    truth = simulate_dl0_block(
        tmp_path, model, 16, tel_id=1, sb_id=4_000_000_101, obs_id=4_000_000_201,
        start=START, chunk_size=2, seed=1, n_streams=4, gain_switch_pe=90.0,
    )  # fmt: skip
    chunk0 = sorted(f for f in truth.files if f.endswith("CHUNK000.fits.fz"))
    other = theirs(chunk0[0])  # MultiFiles opens the 4 SDH streams of CHUNK000
    assert sorted(other) == [1, 2, 3, 4, 5, 6, 7, 8]
    compare(ours(chunk0), other)
    assert {v[0] for v in other.values()} == {0, 2}
    from traitlets.config import Config

    everything = theirs(chunk0[0], config=Config({"MultiFiles": {"all_chunks": True}}))
    compare(ours(truth.files), everything)
    assert sorted(everything) == list(range(1, 17))


def test_ctapipe_dvr_and_reversed_pixel_map(tmp_path):
    missing = list(range(200, 500))
    model = {"n_pixels": 1855, "n_samples": 40, "nan_pixels": missing, "seed": 3}
    truth = simulate_dl0_block(
        tmp_path, model, 6, tel_id=1, sb_id=4_000_000_101, obs_id=4_000_000_202,
        start=START, chunk_size=10, seed=2, n_streams=1,
        pixel_id_map=np.arange(1855)[::-1].copy(),
    )  # fmt: skip
    other = theirs(truth.files[0], dvr_fill_nan=True)
    mine = ours(truth.files)
    compare(mine, other)
    wf = next(iter(mine.values()))[3]
    assert np.isnan(wf[:, missing]).all() and not np.isnan(np.delete(wf, missing, axis=1)).any()
