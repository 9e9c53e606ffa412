"""Telescope optical throughput from muon rings (`ctao.acada.muon_data`).

`muon` holds the statistics (pure numpy/astropy), `handler` wires them into calibd.
"""

from calibd.handlers.throughput import handler

__all__ = ["handler"]
