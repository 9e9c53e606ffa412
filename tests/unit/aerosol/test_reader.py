"""The ACADA FRAM monitoring FITS reader: time scales and units honoured, astropy's time
columns, bad, truncated, missing and foreign files refused naming the file."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time
from calibd.handlers.aerosol.fram import aerosol_calibration
from calibd.handlers.aerosol.reader import read_fram_file

from calibd.errors import BadInput
from tests.unit.aerosol.test_fram import synthetic_night

UNIX_EPOCH_MJD = 40587.0


def write_fram_file(
    path,
    night: dict[str, np.ndarray],
    *,
    ra_unit: str | None = "rad",
    wavelength_unit: str | None = "Angstrom",
    timesys: str = "UTC",
    datatype: str = "FRAM",
    rows: slice = slice(None),
    drop: tuple[str, ...] = (),
) -> None:
    """An ACADA DL0 FRAM monitoring file: timestamp in s since MJDREF (TIMESYS), ra in rad and
    wavelength in Angstrom unless told otherwise."""
    # elapsed SI seconds since MJDREF in TIMESYS (leap seconds count, as in astropy's reader)
    if timesys == "GPS":  # no astropy scale: GPS = TAI - 19 s
        reference = Time(UNIX_EPOCH_MJD, format="mjd", scale="tai") + 19 * u.s
    else:
        reference = Time(UNIX_EPOCH_MJD, format="mjd", scale=timesys.lower())
    seconds = (Time(night["time_mjd"], format="mjd", scale="utc") - reference).to_value(u.s)
    ra = night["ra_deg"] * (np.pi / 180 if ra_unit == "rad" else 1.0)
    wl = night["peak_wavelength_nm"] * (10.0 if wavelength_unit == "Angstrom" else 1.0)
    n = len(seconds)
    columns = [
        ("timestamp", "D", "s", seconds),
        ("ra", "D", ra_unit, ra),
        ("dec", "D", "deg", night["dec_deg"]),
        ("aod", "D", None, night["aod"]),
        ("aod_err", "D", None, night["aod_err"]),
        ("zero_point", "E", "mag", np.full(n, 14.2)),
        ("img_id", "K", None, np.arange(n) + 1000),
        ("observation_id", "K", None, np.full(n, 42)),
        ("peak_wavelength", "D", wavelength_unit, wl),
    ]
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name=name, format=fmt, unit=unit, array=array[rows])
            for name, fmt, unit, array in columns
            if name not in drop
        ],
        name="FRAM",
    )
    hdu.header.update(
        {
            "DATATYPE": datatype,
            "ASSEMBLY": "FRAM-N",
            "MJDREF": UNIX_EPOCH_MJD,
            "TIMESYS": timesys,
            "TIMEUNIT": "s",
            "TSTART": float(seconds.min()),
            "TSTOP": float(seconds.max()),
        }
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


@pytest.mark.parametrize("timesys", ["UTC", "TT", "TAI", "GPS"])
def test_fits_round_trip_converts_time_scale_and_units(tmp_path, timesys):
    night = synthetic_night()
    path = tmp_path / "FRAM_N_20261120.fits"
    write_fram_file(path, night, timesys=timesys)
    got = read_fram_file(path)
    # float64 seconds since 1970 are exact to ~0.1 us; allow 1 ms
    np.testing.assert_allclose(got["time_mjd"], night["time_mjd"], rtol=0, atol=1e-3 / 86400)
    np.testing.assert_allclose(got["ra_deg"], night["ra_deg"], rtol=1e-12)  # from rad
    np.testing.assert_allclose(got["dec_deg"], night["dec_deg"], rtol=1e-12)
    np.testing.assert_allclose(got["peak_wavelength_nm"], 400.0, rtol=1e-12)  # from Angstrom
    np.testing.assert_array_equal(got["aod"], night["aod"])
    assert got["img_id"][0] == 1000 and got["observation_id"][0] == 42
    assert got["assembly"][0] == "FRAM-N"
    assert got["tstart_mjd"][0] == pytest.approx(night["time_mjd"].min(), abs=1e-3 / 86400)
    assert got["tstop_mjd"][0] == pytest.approx(night["time_mjd"].max(), abs=1e-3 / 86400)
    keys = ("time_mjd", "ra_deg", "dec_deg", "aod", "aod_err", "peak_wavelength_nm")
    from_file = aerosol_calibration(**{k: got[k] for k in keys}, config={})[1]
    direct = aerosol_calibration(**night, config={})[1]
    assert from_file["mean_vaod"] == pytest.approx(direct["mean_vaod"], rel=1e-6)


def test_fits_time_column_decoded_by_astropy_and_first_table_fallback(tmp_path):
    night = synthetic_night(n=5)
    table = QTable(
        {
            "timestamp": Time(night["time_mjd"], format="mjd", scale="utc").tt,
            "ra": night["ra_deg"] * u.deg,
            "dec": night["dec_deg"] * u.deg,
            "aod": night["aod"],
            "aod_err": night["aod_err"],
            "peak_wavelength": night["peak_wavelength_nm"] * u.nm,
        },
        meta={"DATATYPE": "FRAM", "EXTNAME": "MONITORING"},
    )
    path = tmp_path / "fram_astropy.fits"
    table.write(path)
    got = read_fram_file(path)
    np.testing.assert_allclose(got["time_mjd"], night["time_mjd"], rtol=0, atol=1e-6 / 86400)
    assert (got["img_id"] == -1).all() and np.isnan(got["zero_point"]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ra_unit": None}, "column ra has missing units"),
        ({"wavelength_unit": None}, "column peak_wavelength has missing units"),
        ({"wavelength_unit": "s"}, "peak_wavelength is in s, not a length"),
        ({"rows": slice(0, 0)}, "empty table"),
        ({"drop": ("aod_err",)}, "missing columns aod_err"),
        ({"datatype": "WEATHER"}, "DATATYPE is 'WEATHER', expected FRAM"),
        ({"timesys": "LOCAL"}, "TIMESYS 'LOCAL' not supported"),
    ],
)
def test_bad_fits_files_are_refused_naming_the_file(tmp_path, kwargs, message):
    path = tmp_path / "FRAM_bad.fits"
    night = synthetic_night(n=5)
    if kwargs.get("timesys") == "LOCAL":
        write_fram_file(path, night)
        with fits.open(path, mode="update") as hdul:
            hdul["FRAM"].header["TIMESYS"] = "LOCAL"
    else:
        write_fram_file(path, night, **kwargs)
    with pytest.raises(BadInput, match=f"FRAM_bad.fits: .*{message}"):
        read_fram_file(path)


def test_truncated_missing_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "FRAM_cut.fits"
    write_fram_file(path, synthetic_night(n=200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5000])  # cut into the table data
    with pytest.raises(BadInput, match="FRAM_cut.fits: .*truncated"):
        read_fram_file(path)
    path.write_bytes(data[:4000])  # cut into the table header
    with pytest.raises(BadInput, match="FRAM_cut.fits: "):
        read_fram_file(path)
    with pytest.raises(BadInput, match="nothing.fits: cannot read"):
        read_fram_file(tmp_path / "nothing.fits")
    text = tmp_path / "notes.fits"
    text.write_text("not a FITS file\n" * 300)
    with pytest.raises(BadInput, match="notes.fits: "):
        read_fram_file(text)
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(image)
    with pytest.raises(BadInput, match="image.fits: no binary table HDU"):
        read_fram_file(image)


DATA = Path(__file__).resolve().parents[2] / "data"


def test_a_file_of_the_observatory_s_monitoring_writer_is_read():
    """Written by ctapipe-mon-acada 0.1 with ctao-datamodel metadata (make_*.py beside it):
    TSTART/TSTOP are ISO strings, the time column has TCTYP/TCUNI, ASSEMBLY is FRAM-N1."""
    path = DATA / "fram_ctapipe_mon_acada.fits"
    assert isinstance(fits.getval(path, "TSTART", ext=1), str)  # the case this test is for
    got = read_fram_file(path)
    start = Time("2026-11-24T20:00:00", scale="utc")
    expected = start.mjd + np.arange(12) * 900 / 86400
    np.testing.assert_allclose(got["time_mjd"], expected, rtol=0, atol=1e-6 / 86400)
    assert got["tstart_mjd"][0] == pytest.approx(expected[0], abs=1e-6 / 86400)
    assert got["tstop_mjd"][0] == pytest.approx(expected[-1], abs=1e-6 / 86400)
    np.testing.assert_allclose(got["aod"], np.linspace(0.040, 0.062, 12), rtol=1e-12)
    np.testing.assert_allclose(got["ra_deg"], np.linspace(10.0, 21.0, 12), rtol=1e-12)
    np.testing.assert_allclose(got["peak_wavelength_nm"], 550.0)
    assert got["assembly"][0] == "FRAM-N1" and got["observation_id"][0] == 42


@pytest.mark.parametrize(
    ("timesys", "offset_s"), [("UTC", 0), ("TAI", -37), ("TT", -69.184), ("GPS", -18)]
)
def test_iso_tstart_and_tstop_are_read_in_timesys(tmp_path, timesys, offset_s):
    """ISO datetimes are in TIMESYS (FITS): in 2026 TAI is UTC + 37 s, TT is TAI + 32.184 s,
    GPS is TAI - 19 s."""
    path = tmp_path / "FRAM_iso.fits"
    write_fram_file(path, synthetic_night(n=5), timesys="UTC")
    with fits.open(path, mode="update") as hdul:
        header = hdul["FRAM"].header
        header["TIMESYS"] = timesys
        header["TSTART"] = "2026-11-24T20:00:37.000"
        header["TSTOP"] = "2026-11-25T05:30:00"
    got = read_fram_file(path)
    utc = Time("2026-11-24T20:00:37", scale="utc").mjd + offset_s / 86400
    assert got["tstart_mjd"][0] == pytest.approx(utc, abs=1e-3 / 86400)
    assert got["tstop_mjd"][0] > got["tstart_mjd"][0]


@pytest.mark.parametrize(
    ("value", "message"),
    [("yesterday evening", "neither elapsed time nor an ISO datetime"), ("0001-01-01", "outside")],
)
def test_a_tstart_that_is_no_time_is_refused(tmp_path, value, message):
    path = tmp_path / "FRAM_bad.fits"
    write_fram_file(path, synthetic_night(n=5))
    with fits.open(path, mode="update") as hdul:
        hdul["FRAM"].header["TSTART"] = value
    with pytest.raises(BadInput, match=f"FRAM_bad.fits: TSTART.*{message}"):
        read_fram_file(path)
