"""Built-in calibration handlers, one module per event family (installed as calibd.handlers).

Importing this package registers every handler with calibd's default registry.
"""

from calibd.handlers import config_change, irf, quality, reprocess

__all__ = ["config_change", "irf", "quality", "reprocess"]
