"""Aerosol extinction (`aerosol_extinction`) from FRAM, and its FRAM-down fallbacks.

- `fram`: the FRAM algorithm (vertical aerosol optical depth, stability, Angstrom scaling);
- `reader`: the ACADA DL0 FRAM monitoring FITS files;
- `fallback`: the FRAM-down fallback chain (`ctc` -> `last_fram` -> `seasonal`);
- `aerosol`: the product's helpers, `export`: its FITS export, `sites`: observatory sites;
- `handler`: `ctao.acada.fram_data` -> `aerosol_extinction` (method `fram`), and
  `ctao.acada.fram_down` -> fallback `aerosol_extinction`, quality request, wait for
  QualPipe, report.
"""

from calibd.handlers.aerosol import export, handler, plots, reference_hdf5

__all__ = ["export", "handler", "plots", "reference_hdf5"]
