"""Built-in calibration handlers, one family folder per product domain (installed as
calibd.handlers).

Each family folder holds `handler.py` (the registrations and I/O glue), its algorithm
modules, and where it has them `reader.py`, `export.py` and `simulate.py`; helpers several
families use sit at this top level. Importing this package registers every handler with
calibd's default registry.
"""

from calibd.handlers import (
    aerosol,
    camera,
    cherenkov_transparency,
    config_change,
    irf,
    molecular,
    muon_throughput,
    quality,
    reprocess,
)

__all__ = [
    "aerosol",
    "camera",
    "cherenkov_transparency",
    "config_change",
    "irf",
    "molecular",
    "muon_throughput",
    "quality",
    "reprocess",
]
