"""Atmospheric calibration: molecular (Rayleigh) extinction from weather data.

`rayleigh` holds the physics (pure numpy), `handler` wires it into calibd
(`ctao.acada.weather` -> `molecular_extinction`). FRAM, FRAM down and the Cherenkov
transparency coefficient come later (issue 4).
"""

from calibd.handlers.atmosphere import handler

__all__ = ["handler"]
