"""`calibd product export ID -o FILE.h5` of an `optical_throughput_muon` product in the layout of
the reference calibration pipeline (ctao-calibpipe 0.8, `calibpipe-calculate-throughput-muon`),
so that what reads calibpipe's files reads calibd's (notes/calibpipe-hdf5.md).

Table `/dl1/monitoring/telescope/calibration/optical_throughput/muon/tel_<TTT>` (ctapipe's
`DL1_TEL_MUON_THROUGHPUT_GROUP`), one row per chunk, the columns of calibpipe's
`OpticalThoughtputContainer` in its order:

    mean, median, std, sem  float64  per-chunk sigma-clipped statistics, sem = std / sqrt(n)
    method                  S10      "Muon Rings" (calibpipe's METHOD)
    time_start, time_end    uint32 (2,)  the chunk's first and last muon, ctao_high_res TAI
    obs_id                  int32    scalar: the product's observation (-1 when it has none,
                                     the container's default)
    n_events                int64    muons in the chunk

written with ctapipe's column attributes (`handlers/reference_hdf5.py`); the table's own
attributes name the calibd product (`CALIBD_*`), which ctapipe's `read_table` gives as `meta`.
`.fits` stays the FITS export (`export`).
"""

from __future__ import annotations

import numpy as np
import tables
from astropy.time import Time
from calibd.handlers.reference_hdf5 import Column, high_res_times, write_reference_table

from calibd.handler_api import BadInput, ExportJob, exporter

__all__ = ["METHOD", "THROUGHPUT_GROUP", "export_reference_hdf5"]

THROUGHPUT_GROUP = "/dl1/monitoring/telescope/calibration/optical_throughput/muon"
METHOD = "Muon Rings"


@exporter("optical_throughput_muon", suffix=".h5")
def export_reference_hdf5(job: ExportJob) -> None:
    product, arrays = job.product, job.arrays
    try:
        n = len(arrays["mean"])
        start = Time(np.asarray(arrays["time_start_mjd"], np.float64), format="mjd", scale="utc")
        end = Time(np.asarray(arrays["time_end_mjd"], np.float64), format="mjd", scale="utc")
        stats = {k: np.asarray(arrays[k], np.float64) for k in ("mean", "median", "std", "sem")}
        n_events = np.asarray(np.rint(arrays["n_events"]), np.int64)
    except KeyError as exc:
        raise BadInput(f"product {product['id']}: no array {exc} to export") from None
    obs_id = product["payload"].get("obs_id")
    columns = {
        **{k: Column(v) for k, v in stats.items()},
        "method": Column(np.full(n, METHOD), kind="string"),
        "time_start": Column(high_res_times(start), kind="time"),
        "time_end": Column(high_res_times(end), kind="time"),
        "obs_id": Column(np.full(n, -1 if obs_id is None else int(obs_id), np.int32)),
        "n_events": Column(n_events),
    }
    attrs = {
        "CALIBD_PRODUCT_ID": str(product["id"]),
        "CALIBD_VALID_FROM": str(product["valid_from"]),
        "CALIBD_ALGORITHM": f"{product['algorithm']} {product['algorithm_version']}",
    }
    tel_id = int(product["tel_id"])
    with tables.open_file(job.path, mode="w") as h5:
        write_reference_table(h5, f"{THROUGHPUT_GROUP}/tel_{tel_id:03d}", columns, attrs)
