"""The Cherenkov Transparency Coefficient from trigger rates: `ctao.acada.trigger_rates` ->
`cherenkov_transparency`.

`transparency` holds the algorithm (numpy in, numbers out), `handler` wires it into calibd
and `export` writes the product as FITS.
"""

from calibd.handlers.cherenkov_transparency import export, handler, plots

__all__ = ["export", "handler", "plots"]
