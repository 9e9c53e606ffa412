"""`calibd product export ID -o FILE.h5` of a `camera_calibration` product: the coefficient
time series of its observation block in ctapipe's monitoring HDF5 layout (`monitoring_hdf5`),
for `ctapipe-process --monitoring-source HDF5MonitoringSource
--HDF5MonitoringSource.input_files=FILE.h5`.

The series is every valid product with the same `summary["block"]` (`tel<T>:sb<S>:ob<O>`),
telescope and category, one coefficient row per chunk in chunk order, each valid from its
product's `valid_from`: the first chunk's is the block start, so every event of the block
finds a row (ctapipe refuses an event before the first row). A product not made from a block
(the pedestal/flat-field run handler's) is written alone, valid from its `valid_from`.

What is written, per row: the APPLIED coefficients (`factor_applied`, `time_shift_applied`:
the camera median for unusable pixels, flagged in `outlier_mask` by their reason bits), the
residual `pedestal_offset` per sample, `time_shift` in ns (`time_shift_ns` of the product,
written with a rate of 1 sample per ns so that no second sampling frequency enters), and
`is_valid`. Pixel statistics (`pedestal_image`, `flatfield_image`: mean, median, std of the
chunk's charges, `n_events`, the chunk's time span) are written when every product of the
series has the means (`pedestal_mean`, `flatfield_mean`, stored by the camera_block handler
since this exporter); calibd keeps only the median peak time, so no `flatfield_peak_time`.

Gains: DL0/R1 data are gain-selected, one channel in p.e. (ACADA has converted both gains); a
block's product splits them back into two gains and calibrates each pixel in the gain its
flat-field events were stored in (`measured`; `gain_selection`). ctapipe indexes the
coefficients by the gain each pixel was read in (`selected_gain_channel`), but ctapipe-io-zfits
0.5 says gain 1 (low) for every pixel of gain-selected data; ctapipe's readout of LSTCam has two
channels. Each pixel's coefficients and statistics in its calibrated gain are therefore written
for every channel of the camera, the same numbers in each: right for the events read in that
gain, the gain of calibration events; a pixel switching gain in shower events is read with its
calibration gain's residual (ctapipe cannot tell the gains apart).

`/configuration/instrument` is copied from `handlers.camera_block.instrument_file` (a ctapipe
HDF5 file holding it, e.g. `SubarrayDescription.to_hdf` of the DL0 source's subarray): the
export is refused when the setting is unset or the file lacks the telescope.

Conventions, as ctapipe 0.28's CameraCalibrator applies them (checked by
tests/unit/camera/test_monitoring_export.py through `ctapipe-process`): it subtracts
`pedestal_offset` from every sample, multiplies the extracted charge by `factor` and subtracts
`time_shift` (ns) from the peak time, which are calibd's conventions. `factor` is p.e. per
window-sum of the camera_block flat-field extractor (`local_peak_window`, 12 samples, shift
4, no integration correction): run ctapipe with the same window and
`apply_integration_correction=False`, or its pulse-shape correction multiplies the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tables
from astropy.time import Time
from calibd.handlers.camera.block import CALIBRATION, CameraBlockConfig
from calibd.handlers.camera.hdf5_configuration import INSTRUMENT_GROUP, read_cameras
from calibd.handlers.camera.monitoring_hdf5 import (
    CameraMonitoringSeries,
    CoefficientRow,
    ObservationBlock,
    ReferenceInfo,
    StatisticsRow,
    write_monitoring_hdf5,
)

from calibd.handler_api import BadInput, ConfigurationError, ExportJob, exporter, parse_time

__all__ = ["export_monitoring_hdf5", "monitoring_series"]

SETTING = "handlers.camera_block.instrument_file"
_STATISTICS = {"pedestal_image": "pedestal", "flatfield_image": "flatfield"}
#: the payload keys of each chunk's event counts
_COUNTS = {"pedestal": "pedestal_events", "flatfield": "n_events"}


def _block(product: dict[str, Any]) -> str | None:
    return (product.get("summary") or {}).get("block")


def _channels(a: np.ndarray, n_channels: int) -> np.ndarray:
    """(n_channels, n_pixels): a one-channel array repeated for each channel (module doc)."""
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[np.newaxis]
    if a.shape[0] == 1 and n_channels > 1:
        a = np.repeat(a, n_channels, axis=0)
    return a


def _tai(mjd_tai: float) -> Time:
    return Time(mjd_tai, format="mjd", scale="tai")


def _in_measured_gain(arrays: dict, a: np.ndarray) -> np.ndarray:
    """Gain-selected products (`measured` per gain and pixel): each pixel's value in the gain it
    was calibrated in, one channel (module doc); other arrays as they are."""
    a = np.asarray(a)
    measured = arrays.get("measured")
    if measured is None or a.ndim != 2 or np.shape(measured) != a.shape:
        return a
    gain = np.argmax(np.asarray(measured, bool), axis=0)
    return a[gain, np.arange(a.shape[1])][np.newaxis]


def _coefficient_row(product: dict, arrays: dict, n_channels: int) -> CoefficientRow:
    try:
        factor = arrays.get("factor_applied", arrays["factor"])
        mask = arrays["outlier_mask"]
        if "time_shift_ns" in arrays:
            shift = np.asarray(arrays["time_shift_ns"], dtype=np.float64)
            unusable = np.asarray(arrays.get("unusable", np.zeros(shift.shape[-1], bool)))
            shift = np.where(unusable | ~np.isfinite(shift), 0.0, shift)
        else:
            shift = arrays.get("time_shift_applied", arrays["time_shift"])
        pedestal = arrays["pedestal_offset"]
    except KeyError as exc:
        raise BadInput(f"product {product['id']}: no array {exc} to export") from None
    factor, mask, shift, pedestal = (
        _in_measured_gain(arrays, a) for a in (factor, mask, shift, pedestal)
    )
    return CoefficientRow(
        time=Time(parse_time(product["valid_from"])),
        factor=_channels(factor, n_channels),
        pedestal_offset=_channels(pedestal, n_channels),
        time_shift=_channels(shift, n_channels),
        outlier_mask=_channels(mask, n_channels),
        is_valid=bool(product["summary"].get("is_valid", product["payload"].get("is_valid"))),
    )


def _statistics(series: list[tuple[dict, dict]], n_channels: int) -> dict[str, list[StatisticsRow]]:
    """The pedestal and flat-field chunk statistics, when every product has them; a pedestal
    chunk paired with several flat-field chunks is written once."""
    names = [f"{kind}_{s}" for kind in _STATISTICS.values() for s in ("mean", "median", "std")]
    spans = ("pedestal_span_mjd_tai", "flatfield_span_mjd_tai", *_COUNTS.values())
    if not all(
        all(n in a for n in names) and all(s in p["payload"] for s in spans) for p, a in series
    ):
        return {}
    out: dict[str, list[StatisticsRow]] = {}
    block_start = Time(parse_time(series[0][0]["valid_from"]))
    for name, kind in _STATISTICS.items():
        rows: list[StatisticsRow] = []
        seen = set()
        for product, arrays in series:
            start, end = product["payload"][f"{kind}_span_mjd_tai"]
            if (start, end) in seen:
                continue
            seen.add((start, end))
            t0 = _tai(start)
            if not rows:  # from the block start, as the coefficients (module doc)
                t0 = min(t0, block_start.tai)
            mean, median, std = (
                _channels(_in_measured_gain(arrays, arrays[f"{kind}_{s}"]), n_channels)
                for s in ("mean", "median", "std")
            )
            median = median.astype(np.float64)
            rows.append(
                StatisticsRow(
                    time_start=t0,
                    time_end=_tai(end),
                    mean=mean,
                    median=median,
                    std=std,
                    n_events=np.full(median.shape, int(product["payload"][_COUNTS[kind]])),
                    outlier_mask=~np.isfinite(median),
                )
            )
        out[name] = rows
    return out


def monitoring_series(series: list[tuple[dict, dict]], n_channels: int) -> CameraMonitoringSeries:
    """The products of one block (or one product) as a monitoring series, in chunk order."""
    ordered = sorted(series, key=lambda pa: (pa[0]["summary"].get("chunk", 0), pa[0]["valid_from"]))
    first = ordered[0][0]
    n_chunks = first["summary"].get("n_chunks")
    chunks = [p["summary"].get("chunk") for p, _ in ordered]
    if _block(first) is not None and chunks != list(range(n_chunks or 0)):
        raise BadInput(
            f"block {_block(first)}: valid products of chunks {chunks}, not of its {n_chunks} "
            "chunks: the block's series is incomplete"
        )
    return CameraMonitoringSeries(
        tel_id=int(first["tel_id"]),
        coefficients=[_coefficient_row(p, a, n_channels) for p, a in ordered],
        pixel_statistics=_statistics(ordered, n_channels),
    )


def _instrument(job: ExportJob, tel_id: int):
    raw = (job.settings.handlers or {}).get("camera_block", {})
    path = CameraBlockConfig.model_validate(raw).instrument_file
    if path is None:
        raise ConfigurationError(
            f"{SETTING} is not set: the HDF5 export needs a ctapipe instrument description "
            "(a ctapipe HDF5 file holding /configuration/instrument)"
        )
    try:
        with tables.open_file(path, mode="r") as h5:
            cameras = read_cameras(h5)
    except (OSError, tables.NoSuchNodeError, tables.HDF5ExtError, KeyError) as exc:
        raise ConfigurationError(
            f"{SETTING} = {path}: not a ctapipe HDF5 file with {INSTRUMENT_GROUP} ({exc})"
        ) from None
    if tel_id not in cameras:
        raise ConfigurationError(
            f"{SETTING} = {path}: its instrument description has no telescope {tel_id} "
            f"(only {sorted(cameras)})"
        )
    return path, cameras[tel_id]


@exporter(CALIBRATION, suffix=".h5", series=_block)
def export_monitoring_hdf5(job: ExportJob) -> None:
    product = job.product
    path, camera = _instrument(job, int(product["tel_id"]))
    series = monitoring_series(job.series, camera.n_channels)
    payload = product["payload"]
    obs_id = payload.get("obs_id")
    obs_ids = [int(obs_id)] if obs_id is not None else []
    reference = ReferenceInfo(
        obs_ids=obs_ids,
        data_category=product["category"],
        activity_name=f"calibd {product['algorithm']} {product['algorithm_version']}",
        activity_id=str(_block(product) or product["id"]),
    )
    blocks = []
    if obs_id is not None:
        sb_id = payload.get("sb_id")
        blocks = [
            ObservationBlock(int(obs_id), int(sb_id)) if sb_id else ObservationBlock(int(obs_id))
        ]
    try:
        write_monitoring_hdf5(
            job.path,
            [series],
            path,
            sampling_rate_ghz=1.0 if "time_shift_ns" in job.arrays else None,
            reference=reference,
            observation_blocks=blocks,
            overwrite=True,
        )
    except ValueError as exc:
        raise BadInput(f"product {product['id']}: {exc}") from None
