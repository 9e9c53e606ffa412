"""IRFs from simulation productions (effective area, energy dispersion, PSF, background).

`reader` reads the simulated DL2 event tables, `compute` builds the IRFs with pyirf,
`export` writes them as GADF FITS (the `irf` exporter), `simulate` writes a production with a
known effective area, `handler` wires them into calibd (`ctao.simpipe.production`).
"""

from calibd.handlers.irf import export, handler, plots

__all__ = ["export", "handler", "plots"]
