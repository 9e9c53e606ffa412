"""Hostile inputs are bad input naming the field and the problem, never a handler crash:
2-D and string time columns, FITS times of 1e12 MJD, periods in year 0001."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from calibd.handlers.aerosol.reader import read_fram_file
from calibd.handlers.muon_throughput.reader import read_muon_file

from calibd import codec
from calibd.errors import BadInput
from calibd.timerange import check_event_times, check_mjd
from tests.conftest import example

N = 20


def muon_file(path, time: np.ndarray, fmt: str = "D") -> str:
    columns = [
        fits.Column(name="time", format=fmt, array=time),
        fits.Column(name="optical_efficiency", format="D", array=np.full(N, 0.2)),
        fits.Column(name="impact", format="D", unit="m", array=np.full(N, 3.0)),
        fits.Column(name="fit_valid", format="L", array=np.ones(N, bool)),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="MUONS")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return str(path)


def fram_file(path, timestamp: np.ndarray, fmt: str = "D", aod_fmt: str = "D", aod=None) -> str:
    n = len(timestamp)
    columns = [
        fits.Column(name="timestamp", format=fmt, unit="s", array=timestamp),
        fits.Column(name="ra", format="D", unit="deg", array=np.full(n, 350.0)),
        fits.Column(name="dec", format="D", unit="deg", array=np.full(n, 28.0)),
        fits.Column(name="aod", format=aod_fmt, array=np.full(n, 0.03) if aod is None else aod),
        fits.Column(name="aod_err", format="D", array=np.full(n, 0.004)),
        fits.Column(name="peak_wavelength", format="D", unit="nm", array=np.full(n, 550.0)),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="FRAM")
    hdu.header.update({"DATATYPE": "FRAM", "MJDREF": 40587.0, "TIMESYS": "UTC"})
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return str(path)


T0 = 1795550000.0  # 2026-11-24, seconds since 1970


@pytest.mark.parametrize(
    ("time", "fmt", "message"),
    [
        (np.full((N, 2), 61000.0), "2D", r"column time has shape \(20, 2\), expected one value"),
        (np.array(["61000.5"] * N), "10A", "column time holds |S10 values, expected numbers"),
        (np.full(N, 1e12), "D", "column time: 20 of 20 times outside the supported range"),
        (np.full(N, np.nan), "D", "column time: 20 of 20 times outside the supported range"),
    ],
)
def test_muon_time_columns(tmp_path, time, fmt, message):
    path = muon_file(tmp_path / "rings.fits", time, fmt)
    with pytest.raises(BadInput, match=f"rings.fits: {message}"):
        read_muon_file(path)


@pytest.mark.parametrize(
    ("timestamp", "fmt", "message"),
    [
        (np.full((10, 2), T0), "2D", "column timestamp must be one value per row"),
        (np.array([str(T0)] * 10), "20A", "column timestamp holds <U20 values, expected numbers"),
        (
            np.full(10, (1e12 - 40587.0) * 86400.0),
            "D",
            r"column timestamp: 10 of 10 times outside the supported range .* \(e.g. MJD 1e\+12\)",
        ),
    ],
)
def test_fram_time_columns(tmp_path, timestamp, fmt, message):
    path = fram_file(tmp_path / "fram.fits", timestamp, fmt)
    with pytest.raises(BadInput, match=f"fram.fits: {message}"):
        read_fram_file(path)


def test_fram_string_measurement_column(tmp_path):
    path = fram_file(
        tmp_path / "fram.fits", np.full(10, T0), aod_fmt="8A", aod=np.array(["n/a"] * 10)
    )
    with pytest.raises(BadInput, match="fram.fits: column aod holds .* values, expected numbers"):
        read_fram_file(path)


def test_a_valid_file_still_reads(tmp_path):
    got = read_muon_file(muon_file(tmp_path / "rings.fits", np.linspace(61000, 61000.1, N)))
    assert got["time_mjd"].dtype == np.float64 and got["time_mjd"][0] == 61000.0
    got = read_fram_file(fram_file(tmp_path / "fram.fits", T0 + np.arange(10.0)))
    assert got["time_mjd"][0] == pytest.approx(40587.0 + T0 / 86400, abs=40 / 86400)  # leap s


@pytest.mark.parametrize(
    ("event_type", "changes", "field"),
    [
        ("ctao.acada.fram_data", {"period_start": "0001-11-24T20:00:00Z"}, "data.period_start"),
        ("ctao.acada.fram_down", {"period_end": "2300-11-25T06:00:00Z"}, "data.period_end"),
        ("ctao.acada.weather", {"time": "2201-01-01T00:00:00Z"}, "data.time"),
    ],
)
def test_event_times_outside_the_epoch(event_type, changes, field):
    env = example(event_type, **changes)
    event = codec.decode(json.dumps(env).encode())
    with pytest.raises(BadInput, match=f"^{field}: .* outside the supported time range"):
        check_event_times(event)
    check_event_times(codec.decode(json.dumps(example(event_type)).encode()))


def test_inline_item_times_are_checked_with_their_path():
    env = example("ctao.acada.muon_data")
    env["data"]["rings"][1]["time"] = "0001-01-01T00:00:00Z"
    event = codec.decode(json.dumps(env).encode())
    with pytest.raises(BadInput, match=r"^data.rings\[1\].time: 0001-01-01"):
        check_event_times(event)


def test_check_mjd_bounds():
    assert check_mjd("f", "t", np.array([47892.0, 124592.9]))[1] == 124592.9
    with pytest.raises(BadInput, match="f: t: 1 of 2 times outside"):
        check_mjd("f", "t", np.array([47891.9, 50000.0]))


def test_camera_run_times_outside_the_epoch(tmp_path):
    from calibd.handlers.camera.reader import open_run
    from calibd.handlers.camera.simulate import CameraModel, simulate_run

    model = CameraModel(n_pixels=16, seed=1)
    simulate_run(tmp_path / "far.fits", "PEDESTAL", 20, model, start_mjd=1e12)
    with pytest.raises(BadInput, match="far.fits: column TIME: 20 of 20 times outside"):
        open_run(tmp_path / "far.fits")
    simulate_run(tmp_path / "ok.fits", "PEDESTAL", 20, model, start_mjd=61000.0)
    assert open_run(tmp_path / "ok.fits").n_events == 20


def test_dl2_string_column_is_bad_input(tmp_path):
    import astropy.units as u
    from astropy.table import QTable
    from calibd.handlers.irf.reader import read_dl2
    from calibd.handlers.irf.simulate import write_dl2

    n = 10
    table = QTable(
        {
            "true_energy": np.full(n, 1.0) * u.TeV,
            "reco_energy": np.full(n, 1.0) * u.TeV,
            "true_source_fov_offset": np.zeros(n) * u.deg,
            "reco_source_fov_offset": np.zeros(n) * u.deg,
            "theta": np.zeros(n) * u.deg,
            "gh_score": np.array(["high"] * n),
        }
    )
    write_dl2(table, tmp_path / "events.fits")
    with pytest.raises(BadInput, match="events.fits: column gh_score holds .* expected numbers"):
        read_dl2(tmp_path / "events.fits")
