"""Run files: round trip, event-type selection, chunked reading, and every kind of bad file
refused with a BadInput naming the file and the problem."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits
from calibd.handlers.camera.extract import make_extractor
from calibd.handlers.camera.reader import iter_chunks, open_run
from calibd.handlers.camera.writer import write_run

from calibd.errors import BadInput

N_EVENTS, N_GAINS, N_PIXELS, N_SAMPLES = 40, 2, 7, 12


def image_columns(n: int = N_EVENTS, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "event_ids": np.arange(n),
        "times": 60000.5 + np.arange(n) / 86400.0,
        "event_types": np.full(n, 2),
        "images": rng.normal(3200, 20, (n, N_GAINS, N_PIXELS)).astype(np.float32),
        "peak_times": rng.uniform(0, 8, (n, N_GAINS, N_PIXELS)).astype(np.float32),
    }


def write_raw(path, header: dict, columns: dict[str, tuple[str, np.ndarray, str | None]]) -> None:
    """A run file built with plain astropy, so any key or column can be left out or wrong."""
    primary = fits.PrimaryHDU()
    for key, value in header.items():
        primary.header[f"HIERARCH {key}" if len(key) > 8 else key] = value
    cols = [fits.Column(name, fmt, dim=dim, array=arr) for name, (fmt, arr, dim) in columns.items()]
    hdus = [primary]
    if columns:
        hdus.append(fits.BinTableHDU.from_columns(cols, name="EVENTS"))
    fits.HDUList(hdus).writeto(path, overwrite=True)


def raw_image_file(path, drop_key=None, drop_column=None, header=None, n=N_EVENTS, **cols):
    c = image_columns(n) | cols
    hdr = {"TEL_ID": 1, "OBS_ID": 42, "RUNTYPE": "PEDESTAL", "N_GAINS": N_GAINS}
    hdr |= {"N_PIXELS": N_PIXELS, "TIMESYS": "UTC"} | (header or {})
    hdr.pop(drop_key, None)
    g, p = c["images"].shape[1:]
    columns = {
        "EVENT_ID": ("K", c["event_ids"], None),
        "TIME": ("D", c["times"], None),
        "EVENT_TYPE": ("I", c["event_types"], None),
        "IMAGE": (f"{g * p}E", c["images"], f"({p},{g})"),
        "PEAK_TIME": (f"{g * p}E", c["peak_times"], f"({p},{g})"),
    }
    columns.pop(drop_column, None)
    write_raw(path, hdr, columns)
    return path


def test_image_run_round_trip_and_chunks(tmp_path):
    path = tmp_path / "ped.fits"
    cols = image_columns()
    write_run(path, tel_id=3, obs_id=42, run_type="PEDESTAL", window_width=8, **cols)
    header = open_run(path, "PEDESTAL")
    assert (header.tel_id, header.obs_id, header.run_type, header.mode) == (
        3,
        42,
        "PEDESTAL",
        "image",
    )
    assert (header.n_gains, header.n_pixels, header.n_samples) == (N_GAINS, N_PIXELS, None)
    assert (header.n_events, header.n_ignored, header.window_width) == (N_EVENTS, 0, 8)
    assert header.time_start == pytest.approx(cols["times"][0])
    assert header.time_end == pytest.approx(cols["times"][-1])
    chunks = list(iter_chunks(path, header, 15))
    assert [len(c.charge) for c in chunks] == [15, 15, 10]
    assert np.array_equal(np.concatenate([c.charge for c in chunks]), cols["images"])
    assert np.array_equal(np.concatenate([c.peak_time for c in chunks]), cols["peak_times"])
    assert np.array_equal(np.concatenate([c.event_id for c in chunks]), cols["event_ids"])
    assert all(c.window_width == 8 for c in chunks)


def test_a_file_written_by_plain_astropy_reads_the_same(tmp_path):
    path = raw_image_file(tmp_path / "ped.fits")
    header = open_run(path)
    assert header.n_events == N_EVENTS and header.window_width is None
    charge = np.concatenate([c.charge for c in iter_chunks(path, header, 100)])
    assert np.array_equal(charge, image_columns()["images"])


def test_waveform_run_is_integrated_by_the_extractor(tmp_path):
    rng = np.random.default_rng(1)
    wf = rng.integers(390, 410, (N_EVENTS, N_GAINS, N_PIXELS, N_SAMPLES)).astype(np.int16)
    types = np.where(np.arange(N_EVENTS) % 4 == 0, 0, 2)
    path = tmp_path / "ped_wf.fits"
    write_run(
        path,
        tel_id=1,
        obs_id=2,
        run_type="PEDESTAL",
        event_ids=np.arange(N_EVENTS),
        times=60000 + np.arange(N_EVENTS) / 86400,
        event_types=types,
        waveforms=wf,
    )
    header = open_run(path, "PEDESTAL")
    assert (header.mode, header.n_samples) == ("waveform", N_SAMPLES)
    # every 4th event is a flat-field event: skipped and counted
    assert (header.n_events, header.n_ignored) == (30, 10)
    extractor = make_extractor({"name": "fixed_window", "window_start": 2, "window_width": 6}, 12)
    chunks = list(iter_chunks(path, header, 7, extractor))
    assert [len(c.charge) for c in chunks] == [7, 7, 7, 7, 2]
    charge = np.concatenate([c.charge for c in chunks])
    assert np.array_equal(charge, wf[types == 2][..., 2:8].sum(axis=-1))
    assert np.array_equal(np.concatenate([c.event_id for c in chunks]), np.flatnonzero(types == 2))
    assert {c.window_width for c in chunks} == {6}
    with pytest.raises(ValueError, match="extractor"):
        next(iter_chunks(path, header, 7))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drop_key": "N_PIXELS"}, "header key N_PIXELS missing"),
        ({"drop_key": "RUNTYPE"}, "header key RUNTYPE missing"),
        ({"drop_key": "TIMESYS"}, "header key TIMESYS missing"),
        ({"header": {"N_GAINS": 2.5}}, "N_GAINS must be an integer"),
        ({"header": {"RUNTYPE": "DARK"}}, "RUNTYPE 'DARK' is not one of PEDESTAL, FLATFIELD"),
        ({"header": {"TIMESYS": "MARS"}}, "TIMESYS 'MARS' is not a time scale"),
        ({"header": {"N_PIXELS": 1855}}, r"IMAGE has shape \(2, 7\), the header says \(2, 1855\)"),
        ({"header": {"N_GAINS": 1}}, r"IMAGE has shape \(2, 7\), the header says \(1, 7\)"),
        ({"drop_column": "PEAK_TIME"}, "column PEAK_TIME missing from EVENTS"),
        ({"drop_column": "TIME"}, "column TIME missing from EVENTS"),
        ({"drop_column": "EVENT_TYPE"}, "column EVENT_TYPE missing from EVENTS"),
        ({"n": 0}, "table EVENTS is empty"),
        ({"event_types": np.zeros(N_EVENTS)}, "none of the 40 events has EVENT_TYPE 2"),
        ({"times": np.full(N_EVENTS, np.nan)}, "TIME contains NaN"),
    ],
)
def test_bad_image_files_are_refused_naming_file_and_problem(tmp_path, kwargs, message):
    path = raw_image_file(tmp_path / "ped.fits", **kwargs)
    with pytest.raises(BadInput, match=rf"^ped\.fits: .*{message}"):
        open_run(path)


def test_wrong_run_type_is_refused(tmp_path):
    path = raw_image_file(tmp_path / "run.fits")
    with pytest.raises(BadInput, match="^run.fits: RUNTYPE is PEDESTAL, expected FLATFIELD"):
        open_run(path, expected_type="FLATFIELD")


def test_waveform_file_without_n_samples_or_with_wrong_samples_is_refused(tmp_path):
    wf = np.zeros((5, N_GAINS, N_PIXELS, N_SAMPLES), np.int16)
    hdr = {"TEL_ID": 1, "OBS_ID": 2, "RUNTYPE": "FLATFIELD", "N_GAINS": N_GAINS}
    hdr |= {"N_PIXELS": N_PIXELS, "TIMESYS": "TAI"}
    cols = {
        "EVENT_ID": ("K", np.arange(5), None),
        "TIME": ("D", np.full(5, 60000.0), None),
        "EVENT_TYPE": ("I", np.zeros(5), None),
        "WAVEFORM": (f"{wf[0].size}I", wf, f"({N_SAMPLES},{N_PIXELS},{N_GAINS})"),
    }
    path = tmp_path / "ff.fits"
    write_raw(path, hdr, cols)
    with pytest.raises(BadInput, match="^ff.fits: header key N_SAMPLES missing"):
        open_run(path)
    write_raw(path, hdr | {"N_SAMPLES": 40}, cols)
    with pytest.raises(BadInput, match=r"^ff.fits: column WAVEFORM has shape \(2, 7, 12\)"):
        open_run(path)
    write_raw(path, hdr | {"N_SAMPLES": N_SAMPLES}, cols)
    assert open_run(path, "FLATFIELD").n_samples == N_SAMPLES


def test_missing_table_missing_file_and_non_fits_are_refused(tmp_path):
    path = tmp_path / "ped.fits"
    write_raw(path, {"TEL_ID": 1, "OBS_ID": 1, "RUNTYPE": "PEDESTAL", "N_GAINS": 2}, {})
    fits.setval(path, "N_PIXELS", value=7)
    fits.setval(path, "TIMESYS", value="UTC")
    with pytest.raises(BadInput, match="^ped.fits: binary table HDU EVENTS missing"):
        open_run(path)
    with pytest.raises(BadInput, match="^nope.fits: no such file"):
        open_run(tmp_path / "nope.fits")
    (tmp_path / "text.fits").write_text("SIMPLE? no, a text file\n" * 200)
    with pytest.raises(BadInput, match="^text.fits: not a readable FITS file"):
        open_run(tmp_path / "text.fits")


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda size: size - 3000, "file truncated: HDU 1 needs"),
        (lambda size: size // 2, "file truncated: HDU 1 needs"),
        (lambda size: 2880 + 1000, "file truncated or corrupt: 1000 bytes after"),
        (lambda size: 1000, "not a readable FITS file"),
    ],
)
def test_truncated_files_are_refused(tmp_path, cut, message):
    path = tmp_path / "ff.fits"
    cols = image_columns(200) | {"event_types": np.zeros(200)}
    write_run(path, tel_id=1, obs_id=2, run_type="FLATFIELD", **cols)
    assert open_run(path).n_events == 200
    os.truncate(path, cut(os.path.getsize(path)))
    with pytest.raises(BadInput, match=f"^ff.fits: {message}"):
        open_run(path)


def test_both_waveform_and_image_columns_are_refused(tmp_path):
    c = image_columns(5)
    g, p = N_GAINS, N_PIXELS
    hdr = {"TEL_ID": 1, "OBS_ID": 2, "RUNTYPE": "PEDESTAL", "N_GAINS": g, "N_PIXELS": p}
    hdr |= {"TIMESYS": "UTC", "N_SAMPLES": 4}
    cols = {
        "EVENT_ID": ("K", c["event_ids"], None),
        "TIME": ("D", c["times"], None),
        "EVENT_TYPE": ("I", c["event_types"], None),
        "WAVEFORM": (f"{g * p * 4}I", np.zeros((5, g, p, 4), np.int16), f"(4,{p},{g})"),
        "IMAGE": (f"{g * p}E", c["images"], f"({p},{g})"),
    }
    write_raw(tmp_path / "ped.fits", hdr, cols)
    with pytest.raises(BadInput, match="^ped.fits: EVENTS has both WAVEFORM and IMAGE"):
        open_run(tmp_path / "ped.fits")
