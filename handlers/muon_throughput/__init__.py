"""Telescope optical throughput from muon rings (`ctao.acada.muon_data` ->
`optical_throughput_muon`).

`muon` holds the statistics (pure numpy/astropy), `reader` reads the muon-ring FITS tables,
`handler` wires them into calibd and `export` writes the product as FITS.
"""

from calibd.handlers.muon_throughput import export, handler, plots, reference_hdf5

__all__ = ["export", "handler", "plots", "reference_hdf5"]
