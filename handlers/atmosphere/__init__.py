"""Atmospheric calibration.

- `rayleigh` + `handler`: `ctao.acada.weather` -> `molecular_extinction`;
- `aerosol`: the `aerosol_extinction` product shared by FRAM and its fallbacks;
- `fram` + `fram_data`: `ctao.acada.fram_data` -> `aerosol_extinction` (method `fram`);
- `transparency` + `trigger_rates`: `ctao.acada.trigger_rates` -> `cherenkov_transparency`;
- `fram_down`: `ctao.acada.fram_down` -> fallback `aerosol_extinction`, quality request, wait
  for QualPipe, report.
"""

from calibd.handlers.atmosphere import aerosol, fram_data, fram_down, handler, trigger_rates

__all__ = ["aerosol", "fram_data", "fram_down", "handler", "trigger_rates"]
