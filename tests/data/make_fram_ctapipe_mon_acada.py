"""Writes tests/data/fram_ctapipe_mon_acada.fits with the observatory's own monitoring writer
(ctapipe-mon-acada 0.1 + ctao-datamodel 1.4, Python >= 3.12, not a test dependency):
    python3.12 -m venv v && v/bin/pip install ctapipe-mon-acada==0.1.0
    v/bin/python tests/data/make_fram_ctapipe_mon_acada.py
The values are those tests/unit/aerosol/test_reader.py expects (FRAM_TRUTH there)."""

from pathlib import Path

import astropy.units as u
import ctao_datamodel.models.dataproducts as dp
import numpy as np
from astropy.table import Table
from astropy.time import Time
from ctapipe_mon_acada.testing import make_monitoring_product, write_monitoring_fits

n = 12
times = Time("2026-11-24T20:00:00", scale="utc") + np.arange(n) * 900 * u.s
table = Table()
table["timestamp"] = times
table["ra"] = np.linspace(10.0, 21.0, n) * u.deg
table["dec"] = np.linspace(20.0, 31.0, n) * u.deg
table["aod"] = np.linspace(0.040, 0.062, n) * u.dimensionless_unscaled
table["aod_err"] = np.full(n, 0.004) * u.dimensionless_unscaled
table["peak_wavelength"] = np.full(n, 550.0) * u.nm
table["zero_point"] = np.full(n, 14.2)
table["img_id"] = np.arange(n) + 1000
table["observation_id"] = np.full(n, 42)
product = make_monitoring_product(dp.DataType.FRAM, "FRAM-N1", times[0], times[-1])
out = Path(__file__).with_name("fram_ctapipe_mon_acada.fits")
write_monitoring_fits(out, table, product, hdu_name="FRAM", overwrite=True)
print(out)
