"""Built-in calibration handlers, one module per event family (installed as calibd.handlers).

Importing this package registers every handler with calibd's default registry.
"""

from calibd.handlers import atmosphere, config_change, irf, quality, reprocess, throughput

__all__ = ["atmosphere", "config_change", "irf", "quality", "reprocess", "throughput"]
