"""`calibd product export ID -o FILE.h5` of an `aerosol_extinction` product in the layout of the
reference calibration pipeline (ctao-calibpipe 0.8, `ClearNightAnalysis` of FRAM data), so that
what reads calibpipe's files reads calibd's (notes/calibpipe-hdf5.md).

`/dl1/monitoring/aerosol_calibration`: calibpipe's table, exactly its three columns, one row:

    night_assessment                      S<n>     "Clear Night" when the product's night is
                                                   clear (`clear_night`), else "Undefined"
                                                   (calibd tells no "Calima" or "Clouds")
    VAOD                                  float64  dimensionless (quantity, unit ""): the
                                                   product's `vaod`
    fractional_rms_variability_amplitude  float64  dimensionless: the product's `stability`
                                                   (sqrt(excess variance) / mean VAOD, as
                                                   calibpipe's); NaN when there is none (a
                                                   FRAM-down fallback, or undefined)

calibd's VAOD is its inverse-variance weighted mean at `reference_wavelength_nm`; calibpipe's is
the unweighted mean of the measurements at the FRAM filter's peak wavelength.

calibpipe's table has no obs_id and no time: its validity is the night of the input file. calibd
puts the product's validity and method in the table's attributes (`CALIBD_*`; ctapipe's
`read_table` gives them as `meta`) and its Angstrom scaling in a table of its own,
`/dl1/monitoring/aerosol_extinction` (wavelength [nm], tau, tau_err), which calibpipe has not.
`.fits` stays the FITS export (`export`).
"""

from __future__ import annotations

import math

import numpy as np
import tables
from calibd.handlers.aerosol.aerosol import AEROSOL_PRODUCT
from calibd.handlers.reference_hdf5 import Column, write_reference_table

from calibd.handler_api import BadInput, ExportJob, exporter

__all__ = ["AEROSOL_TABLE", "EXTINCTION_TABLE", "export_reference_hdf5"]

AEROSOL_TABLE = "/dl1/monitoring/aerosol_calibration"
EXTINCTION_TABLE = "/dl1/monitoring/aerosol_extinction"


def _number(value) -> float:
    return math.nan if value is None else float(value)


@exporter(AEROSOL_PRODUCT, suffix=".h5")
def export_reference_hdf5(job: ExportJob) -> None:
    product, arrays, payload = job.product, job.arrays, job.product["payload"]
    clear = bool(payload.get("clear_night", False))
    calibration = {
        "night_assessment": Column(["Clear Night" if clear else "Undefined"], kind="string"),
        "VAOD": Column(np.array([_number(payload["vaod"])]), kind="quantity"),
        "fractional_rms_variability_amplitude": Column(
            np.array([_number(payload.get("stability"))]), kind="quantity"
        ),
    }
    attrs = {
        "CALIBD_PRODUCT_ID": str(product["id"]),
        "CALIBD_VALID_FROM": str(product["valid_from"]),
        "CALIBD_METHOD": str(payload["method"]),
        "CALIBD_VAOD_ERR": _number(payload.get("vaod_err")),
        "CALIBD_REFERENCE_WAVELENGTH_NM": _number(payload.get("reference_wavelength_nm")),
        "CALIBD_ANGSTROM_ALPHA": _number(payload.get("angstrom_alpha")),
    }
    if product.get("valid_to") is not None:
        attrs["CALIBD_VALID_TO"] = str(product["valid_to"])
    try:
        extinction = {
            "wavelength": Column(np.asarray(arrays["wavelength_nm"], np.float64), "quantity", "nm"),
            "tau": Column(np.asarray(arrays["tau"], np.float64), "quantity"),
            "tau_err": Column(np.asarray(arrays["tau_err"], np.float64), "quantity"),
        }
    except KeyError as exc:
        raise BadInput(f"product {product['id']}: no array {exc} to export") from None
    with tables.open_file(job.path, mode="w") as h5:
        write_reference_table(h5, AEROSOL_TABLE, calibration, attrs)
        write_reference_table(h5, EXTINCTION_TABLE, extinction)
