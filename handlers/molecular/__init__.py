"""Molecular (Rayleigh) extinction from weather readings: `ctao.acada.weather` ->
`molecular_extinction`.

`rayleigh` holds the algorithm (numpy in, numbers out), `handler` wires it into calibd and
`export` writes the product as FITS.
"""

from calibd.handlers.molecular import export, handler, plots

__all__ = ["export", "handler", "plots"]
