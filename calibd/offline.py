"""astropy set-up for machines without internet (site computing, CI).

astropy would try to download IERS Earth-rotation tables for recent times; calibd never
downloads: the bundled `astropy-iers-data` package is the source, and times beyond its
predictive range fall back to astropy's extrapolation (sub-arcsecond effects, irrelevant to
calibration). `auto_max_age = None` disables the staleness error for the same reason.
"""

from __future__ import annotations

__all__ = ["configure_offline_astropy"]


def configure_offline_astropy() -> None:
    from astropy.utils import iers

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
    iers.conf.iers_degraded_accuracy = "warn"
