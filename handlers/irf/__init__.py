"""IRFs from simulation productions (effective area, energy dispersion, PSF, background).

`dl2_format` reads the simulated DL2 event tables, `compute` builds the IRFs with pyirf,
`gadf` writes them as GADF FITS, `simulate` writes a production with a known effective area,
`handler` wires them into calibd (`ctao.simpipe.production`).
"""

from calibd.handlers.irf import handler

__all__ = ["handler"]
