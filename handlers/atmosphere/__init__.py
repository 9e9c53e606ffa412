"""Atmospheric calibration.

- `rayleigh` + `handler`: `ctao.acada.weather` -> `molecular_extinction`;
- `aerosol`: the `aerosol_extinction` product shared by FRAM and its fallbacks;
- `fram_down`: `ctao.acada.fram_down` -> fallback `aerosol_extinction`, quality request, wait
  for QualPipe, report.
"""

from calibd.handlers.atmosphere import aerosol, fram_down, handler

__all__ = ["aerosol", "fram_down", "handler"]
