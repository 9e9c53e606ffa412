"""Built-in calibration handlers, one module per event family (installed as calibd.handlers).

Importing this package registers every handler with calibd's default registry.
"""

from calibd.handlers import (
    atmosphere,
    camera,
    config_change,
    irf,
    quality,
    reprocess,
    throughput,
)

__all__ = ["atmosphere", "camera", "config_change", "irf", "quality", "reprocess", "throughput"]
