"""Camera calibration in ctapipe's monitoring HDF5 layout, read back by ctapipe 0.28 itself:
`HDF5MonitoringSource` (what `ctapipe-process --monitoring-source HDF5MonitoringSource` uses)
and `CameraCalibrator`. The instrument file is ctapipe-io-zfits' bundled LST description
written by ctapipe's `SubarrayDescription.to_hdf` (LSTCam: 2 gains, 1855 pixels, 1.024 GHz)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import tables
from astropy.time import Time
from calibd.handlers.camera.hdf5_configuration import ObservationBlock
from calibd.handlers.camera.monitoring_hdf5 import (
    COEFFICIENTS_GROUP,
    PIXEL_STATISTICS_GROUP,
    CameraMonitoringSeries,
    CoefficientRow,
    ReferenceInfo,
    StatisticsRow,
    tai_high_res,
    write_monitoring_hdf5,
)
from ctapipe.containers import ArrayEventContainer
from ctapipe.io import HDF5MonitoringSource, read_table
from ctapipe.io import metadata as ctapipe_meta
from ctapipe_io_zfits.instrument import build_subarray_description

N_GAINS, N_PIX, RATE_GHZ = 2, 1855, 1.024
T0 = Time("2026-01-01T22:00:00", scale="utc").tai  # first validity start (TAI)
STARTS = [T0, T0 + 60 * u.s, T0 + 120 * u.s]


@pytest.fixture(scope="module")
def instrument(tmp_path_factory):
    """LST1-4 (tel 1..4) as ctapipe writes a subarray."""
    path = tmp_path_factory.mktemp("instrument") / "lst.h5"
    build_subarray_description(2).to_hdf(path)
    return path


def coefficient_rows(tel_id: int = 1, nan_pixel: int | None = None) -> list[CoefficientRow]:
    rows = []
    for k, start in enumerate(STARTS):
        factor = np.full((N_GAINS, N_PIX), 0.01 * (k + 1) + 0.1 * tel_id)
        mask = np.zeros((N_GAINS, N_PIX), dtype=np.int32)
        mask[1, 5] = 8  # a reason bit (flat-field charge)
        if nan_pixel is not None and k == 1:
            factor[0, nan_pixel] = np.nan  # not flagged by its producer
        rows.append(
            CoefficientRow(
                # the first start as (TAI s, qns), the others as astropy Time
                time=tai_high_res(start) if k == 0 else start,
                factor=factor,
                pedestal_offset=np.full((N_GAINS, N_PIX), 400.0 + k),
                time_shift=np.tile(np.linspace(-2.0, 2.0, N_PIX), (N_GAINS, 1)),
                outlier_mask=mask,
                is_valid=k != 2,
            )
        )
    return rows


def statistics_rows(level: float) -> list[StatisticsRow]:
    rows = []
    for k, start in enumerate(STARTS):
        mask = np.zeros((N_GAINS, N_PIX), dtype=bool)
        mask[0, 3] = k == 0
        rows.append(
            StatisticsRow(
                time_start=start,
                time_end=start + 59.9 * u.s,
                mean=np.full((N_GAINS, N_PIX), level + k),
                median=np.full((N_GAINS, N_PIX), level + k + 0.5),
                std=np.full((N_GAINS, N_PIX), 2.0),
                n_events=np.full((N_GAINS, N_PIX), 2500),
                outlier_mask=mask,
                event_id_start=1000 * k,
                event_id_end=1000 * k + 999,
            )
        )
    return rows


def series(tel_id: int = 1, **kw) -> CameraMonitoringSeries:
    stats = {
        "pedestal_image": statistics_rows(0.0),
        "flatfield_image": statistics_rows(80.0),
        "flatfield_peak_time": statistics_rows(18.0),
    }
    return CameraMonitoringSeries(tel_id, coefficient_rows(tel_id, **kw), stats)


def test_tai_high_res_matches_ctapipes_conversion():
    from ctapipe.time import ctao_high_res_to_time, time_to_ctao_high_res

    rng = np.random.default_rng(2)
    times = [T0, Time("2026-06-30T23:59:59.999999999", scale="utc", precision=9)]
    times += [T0 + s * u.s for s in rng.uniform(0, 3e7, 20)]
    for t in times:
        s, qns = tai_high_res(t)
        assert [s, qns] == time_to_ctao_high_res(t).tolist()
        assert abs((ctao_high_res_to_time(s, qns) - t).to_value(u.ns)) <= 0.125
    assert tai_high_res((1767304837, 3)) == (1767304837, 3)
    with pytest.raises(ValueError, match="out of range"):
        tai_high_res((1767304837, 4_000_000_000))


@pytest.fixture(scope="module")
def one_tel(instrument, tmp_path_factory):
    path = tmp_path_factory.mktemp("mon") / "monitoring.h5"
    write_monitoring_hdf5(
        path,
        [series(1, nan_pixel=7)],
        instrument,
        sampling_rate_ghz=RATE_GHZ,
        reference=ReferenceInfo(obs_ids=[4000000001], data_category="B", site="CTAO-North"),
        observation_blocks=[ObservationBlock(4000000001, 4000000001, "CTAO-North", 1, T0, 2.0)],
    )
    return path


def event_at(time: Time) -> ArrayEventContainer:
    event = ArrayEventContainer()
    event.trigger.time = time
    return event


def test_ctapipe_applies_the_row_whose_validity_started_last(one_tel):
    mon = HDF5MonitoringSource(input_files=[one_tel])
    assert mon.subarray.tel_ids.tolist() == [1]
    assert not mon.is_simulation
    # inside each interval, and long after the last start (the last row stays valid)
    for offset, row in ((0, 0), (10, 0), (59.9, 0), (60, 1), (119, 1), (120, 2), (9000, 2)):
        event = event_at(T0 + offset * u.s)
        mon.fill_monitoring_container(event)
        coef = event.monitoring.tel[1].camera.coefficients
        assert coef.factor[0, 0] == pytest.approx(0.01 * (row + 1) + 0.1, rel=1e-6), offset
        assert coef.pedestal_offset[1, 9] == pytest.approx(400.0 + row)
        assert coef.is_valid == (row != 2)
        assert coef.time == pytest.approx(STARTS[row].mjd, abs=1e-9)  # float MJD TAI
    # before the first start ctapipe refuses (no tolerance by default)
    with pytest.raises(ValueError, match="Out of bounds"):
        mon.fill_monitoring_container(event_at(T0 - 1 * u.s))


def test_dtypes_units_and_times_as_ctapipe_reads_them(one_tel):
    with tables.open_file(one_tel) as h5:
        table = h5.get_node(f"{COEFFICIENTS_GROUP}/tel_001")
        raw = table.read()
        # PyTables' bool (an HDF5 bitfield), which ctapipe reads back as bool, not int8
        assert table.coltypes["outlier_mask"] == table.coltypes["is_valid"] == "bool"
        assert table.coldtypes["outlier_mask"] == np.dtype((bool, (N_GAINS, N_PIX)))
        assert table.coldtypes["time"] == np.dtype((np.uint32, (2,)))
        assert str(table.attrs["CTAFIELD_0_TIME_FORMAT"]) == "ctao_high_res"
    assert raw["time"][0].tolist() == list(tai_high_res(T0))
    assert raw["time"][0, 0] == 1767304837  # 2026-01-01T22:00:37 TAI since 1970 TAI
    for col in ("factor", "pedestal_offset", "time_shift"):
        assert raw[col].dtype == np.float32
    tab = read_table(one_tel, f"{COEFFICIENTS_GROUP}/tel_001")
    assert tab["time"].scale == "tai"
    assert np.abs((tab["time"] - Time(STARTS)).to_value(u.ns)).max() < 1
    assert tab["outlier_mask"].dtype == bool
    # time_shift: samples / (1.024 samples per ns) = ns
    expected_ns = np.linspace(-2.0, 2.0, N_PIX) / RATE_GHZ
    np.testing.assert_allclose(tab["time_shift"][0, 1], expected_ns, rtol=1e-6)
    assert tab["time_shift"][0, 1, -1] == pytest.approx(1.953125)


def test_a_nan_coefficient_stays_nan_and_is_flagged(one_tel):
    mon = HDF5MonitoringSource(input_files=[one_tel])
    event = event_at(T0 + 70 * u.s)
    mon.fill_monitoring_container(event)
    coef = event.monitoring.tel[1].camera.coefficients
    assert np.isnan(coef.factor[0, 7])
    assert coef.outlier_mask.dtype == bool
    assert coef.outlier_mask[0, 7] and coef.outlier_mask[1, 5]  # NaN, and reason bit 8
    assert coef.outlier_mask.sum() == 2
    # the other rows have no NaN, so only the reason bit
    event = event_at(T0 + 10 * u.s)
    mon.fill_monitoring_container(event)
    assert event.monitoring.tel[1].camera.coefficients.outlier_mask.sum() == 1


def test_pixel_statistics_read_back_by_ctapipe(one_tel):
    mon = HDF5MonitoringSource(input_files=[one_tel])
    assert {t.name for t in mon.monitoring_types} == {"CAMERA_COEFFICIENTS", "PIXEL_STATISTICS"}
    stats = mon.get_camera_monitoring_container(1, T0 + 90 * u.s).pixel_statistics
    assert stats.flatfield_image["median"][1, 100] == pytest.approx(81.5)
    assert stats.flatfield_peak_time["mean"][0, 0] == pytest.approx(19.0)
    assert stats.pedestal_image["std"][0, 3] == pytest.approx(2.0)
    first = mon.get_camera_monitoring_container(1, T0 + 10 * u.s).pixel_statistics
    assert np.isnan(first.pedestal_image["median"][0, 3])  # its outlier_mask was set
    assert np.isfinite(first.pedestal_image["median"][1, 3])
    tab = read_table(one_tel, f"{PIXEL_STATISTICS_GROUP}/flatfield_image/tel_001")
    assert tab["n_events"][0, 0, 0] == 2500
    assert tab["event_id_end"].tolist() == [999, 1999, 2999]
    assert tab["outlier_mask"].dtype == bool
    assert np.abs((tab["time_end"] - tab["time_start"]).to_value(u.s) - 59.9).max() < 1e-6


def test_root_reference_metadata_has_ctapipes_keys(one_tel):
    ref = ctapipe_meta.read_reference_metadata(one_tel)  # parsed by ctapipe's own classes
    assert ref.product.data_category == "B"
    assert ref.product.format == "hdf5"
    assert ref.process.id_ == "4000000001"
    assert ref.activity.software_name == "calibd"
    assert ref.instrument.site == "CTAO-North"
    assert ref.instrument.id_ == HDF5MonitoringSource(input_files=[one_tel]).subarray.name
    assert [level.name for level in ref.product.data_levels] == ["DL1"]
    written = set(ctapipe_meta.read_hdf5_metadata(one_tel))
    assert written == set(ref.to_dict())  # the same keys ctapipe writes, no more, no less


def test_observation_block_table(one_tel):
    tab = read_table(one_tel, "/configuration/observation/observation_block")
    assert tab["obs_id"].tolist() == [4000000001]
    assert tab["producer_id"][0] == "CTAO-North"
    assert tab["state"][0] == 1
    assert abs((tab["actual_start_time"][0] - T0).to_value(u.ms)) < 1
    assert tab["actual_duration"].unit == u.min


def test_two_telescopes_and_the_instrument_restricted_to_them(instrument, tmp_path):
    path = write_monitoring_hdf5(
        tmp_path / "two.h5", [series(1), series(2)], instrument, sampling_rate_ghz=RATE_GHZ
    )
    with tables.open_file(path) as h5:
        assert h5.get_node("/configuration/instrument/subarray/layout").nrows == 2
        cameras = h5.list_nodes("/configuration/instrument/telescope/camera")
        assert sorted(n._v_name for n in cameras) == ["geometry_0", "readout_0"]
    mon = HDF5MonitoringSource(input_files=[path])
    assert mon.subarray.tel_ids.tolist() == [1, 2]
    assert mon.subarray == build_subarray_description(2).select_subarray([1, 2])
    assert mon.subarray.tel[2].camera.geometry.n_pixels == N_PIX
    event = event_at(T0 + 61 * u.s)
    mon.fill_monitoring_container(event)
    assert event.monitoring.tel[1].camera.coefficients.factor[0, 0] == pytest.approx(0.12)
    assert event.monitoring.tel[2].camera.coefficients.factor[0, 0] == pytest.approx(0.22)


def test_sampling_rate_defaults_to_the_cameras_readout(instrument, tmp_path):
    path = write_monitoring_hdf5(tmp_path / "m.h5", [series(3)], instrument)
    tab = read_table(path, f"{COEFFICIENTS_GROUP}/tel_003")
    assert tab["time_shift"][0, 0, -1] == pytest.approx(2.0 / 1.024)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"tel_id": 9}, r"telescopes \[9\] not in the instrument"),
        ({"coefficients": coefficient_rows()[::-1]}, "strictly increasing"),
        ({"coefficients": [], "pixel_statistics": {}}, "no coefficient rows"),
        ({"pixel_statistics": {"pedestal": statistics_rows(0.0)}}, "not <event_type>_"),
        ({"pixel_statistics": {"pedestal_image": statistics_rows(0)[::-1]}}, "increasing"),
    ],
)
def test_inconsistent_input_is_refused_and_leaves_no_file(instrument, tmp_path, change, match):
    good = series(1)
    bad = CameraMonitoringSeries(
        change.get("tel_id", 1),
        change.get("coefficients", good.coefficients),
        change.get("pixel_statistics", good.pixel_statistics),
    )
    with pytest.raises(ValueError, match=match):
        write_monitoring_hdf5(tmp_path / "bad.h5", [bad], instrument)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("keep", [np.s_[:, :100], np.s_[:1, :]])
def test_arrays_not_shaped_like_the_camera_are_refused(instrument, tmp_path, keep):
    """Pixels and gains of the camera's readout: ctapipe picks the coefficients of the gain a
    DL0 pixel was read in (ctapipe-io-zfits 0.5: always 1), a one-gain file would fail."""
    row = coefficient_rows()[0]
    arrays = (row.factor, row.pedestal_offset, row.time_shift, row.outlier_mask)
    small = CoefficientRow(row.time, *(a[keep] for a in arrays))
    with pytest.raises(ValueError, match=r"are not \(2, 1855\): LSTCam's gains and pixels"):
        write_monitoring_hdf5(tmp_path / "x.h5", [CameraMonitoringSeries(1, [small])], instrument)


def test_ctapipe_camera_calibrator_applies_the_coefficients(tmp_path):
    """What ctapipe-process does with the file: CameraCalibrator subtracts pedestal_offset per
    sample, multiplies the charge by factor and subtracts time_shift (ns) from the peak time,
    each of the gain the pixel's DL0 waveform was selected from."""
    from ctapipe.calib import CameraCalibrator
    from ctapipe.containers import DL0CameraContainer
    from traitlets.config import Config

    subarray = build_subarray_description(1)  # LST1, what ctapipe-io-zfits gives DL0 events
    subarray.to_hdf(tmp_path / "lst1.h5")
    rng = np.random.default_rng(3)
    factor = rng.uniform(0.8, 1.2, (N_GAINS, N_PIX))
    pedestal = np.array([[7.0], [3.0]]) * np.ones((N_GAINS, N_PIX))
    shift = rng.uniform(-1.5, 1.5, (N_GAINS, N_PIX))  # samples
    row = CoefficientRow(T0, factor, pedestal, shift, np.zeros((N_GAINS, N_PIX), int))
    path = write_monitoring_hdf5(
        tmp_path / "c.h5", [CameraMonitoringSeries(1, [row])], tmp_path / "lst1.h5"
    )
    gain = (np.arange(N_PIX) % 2).astype(np.int8)
    pix = np.arange(N_PIX)
    amplitude = rng.uniform(50, 150, N_PIX).astype(np.float32)
    waveform = np.repeat(pedestal[gain, pix][None, :, None], 40, axis=2).astype(np.float32)
    waveform[0, :, 17:20] += amplitude[:, None] * np.array([0.5, 1.0, 0.5], np.float32)
    event = event_at(T0 + 5 * u.s)
    event.dl0.tel[1] = DL0CameraContainer(
        waveform=waveform, selected_gain_channel=gain, pixel_status=np.zeros(N_PIX, np.uint8)
    )
    HDF5MonitoringSource(subarray=subarray, input_files=[path]).fill_monitoring_container(event)
    config = Config(
        {
            "CameraCalibrator": {
                "image_extractor_type": "FixedWindowSum",
                "invalid_pixel_handler_type": None,
            },
            "FixedWindowSum": {
                "peak_index": 18,
                "window_shift": 6,
                "window_width": 12,
                "apply_integration_correction": False,
            },
        }
    )
    CameraCalibrator(subarray=subarray, config=config)(event)
    dl1 = event.dl1.tel[1]
    np.testing.assert_allclose(dl1.image, 2.0 * amplitude * factor[gain, pix], rtol=1e-5)
    # peak at sample 18 = 18 / 1.024 ns, minus the pixel's time shift in ns
    np.testing.assert_allclose(dl1.peak_time, (18 - shift[gain, pix]) / RATE_GHZ, atol=1e-4)


def test_calibd_ffactor_results_written_and_read_by_ctapipe(instrument, tmp_path):
    """From charges through calibd's own statistics and F-factor coefficients to the file: a
    pixel without flat-field charges keeps a NaN factor, flagged; the others ctapipe gets as
    calibd computed them (float32), time shifts in ns."""
    from calibd.handlers.camera.ffactor import calibration_coefficients
    from calibd.handlers.camera.stats import StreamingStats

    rng = np.random.default_rng(5)
    n_pix = N_PIX
    ped_charges = rng.normal(400.0, 20.0, (500, N_GAINS, n_pix))
    ff_charges = ped_charges + rng.normal(8000.0, 900.0, (500, N_GAINS, n_pix))
    ff_charges[:, :, 42] = np.nan  # a dead pixel
    ped, ff = StreamingStats(), StreamingStats()
    ped.update(ped_charges)
    ff.update(ff_charges)
    peak_time = rng.normal(18.0, 0.5, (N_GAINS, n_pix))
    result = calibration_coefficients(ped.result(), ff.result(), peak_time, window_width=8)
    assert np.isnan(result["factor"][0, 42]) and result["outlier_mask"][0, 42] & 1

    end = T0 + 30 * u.s
    s = CameraMonitoringSeries(
        2,
        [CoefficientRow.from_calibration(T0, result)],
        {
            "pedestal_image": [StatisticsRow.from_stats(T0, end, ped.result())],
            "flatfield_image": [StatisticsRow.from_stats(T0, end, ff.result())],
        },
    )
    path = write_monitoring_hdf5(tmp_path / "ff.h5", [s], instrument)
    camera = HDF5MonitoringSource(input_files=[path]).get_camera_monitoring_container(2, end)
    coef = camera.coefficients
    assert np.isnan(coef.factor[0, 42]) and coef.outlier_mask[0, 42]
    np.testing.assert_array_equal(coef.outlier_mask, result["outlier_mask"] != 0)
    good = result["outlier_mask"] == 0
    np.testing.assert_allclose(coef.factor[good], result["factor"][good], rtol=1e-6)
    np.testing.assert_allclose(coef.pedestal_offset, result["pedestal_offset"], rtol=1e-6)
    np.testing.assert_allclose(coef.time_shift[good], result["time_shift"][good] / 1.024, atol=1e-5)
    assert coef.is_valid == bool(result["is_valid"])
    ff_median = camera.pixel_statistics.flatfield_image["median"]
    assert np.isnan(ff_median[0, 42])  # no charges: flagged by from_stats, NaN in ctapipe
    np.testing.assert_allclose(ff_median[good], ff.result()["median"][good])


def test_ctapipes_merger_copies_the_file(instrument, tmp_path):
    """ctapipe's HDF5Merger (ctapipe-merge; QualPipe writing its results to a new file) needs
    the reference metadata and an observation-block table: one per obs_id by default."""
    from ctapipe.io import HDF5Merger

    path = write_monitoring_hdf5(
        tmp_path / "m.h5", [series(1)], instrument, reference=ReferenceInfo(obs_ids=[17])
    )
    with HDF5Merger(tmp_path / "merged.h5") as merger:
        merger(path)
    assert read_table(tmp_path / "merged.h5", "/configuration/observation/observation_block")[
        "obs_id"
    ].tolist() == [17]
    mon = HDF5MonitoringSource(input_files=[tmp_path / "merged.h5"])
    coef = mon.get_camera_monitoring_container(1, T0 + 61 * u.s).coefficients
    assert coef.factor[0, 0] == pytest.approx(0.12)
