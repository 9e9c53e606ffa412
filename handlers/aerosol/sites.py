"""Observatory sites and offline Earth-orientation data for astropy.

Presets (WGS84 geodetic; east longitude positive):

- ``CTAO-North``: Roque de los Muchachos, La Palma. 28d45m43.7904s N, 17d53m31.218s W as published
  by CTAO for the array site (cta-observatory.org, "Array locations: La Palma"), height 2147 m
  as used by the CTA Monte-Carlo group (both as quoted in gammapy.utils.observers). LST-1 lies
  within ~150 m of it (ctapipe_io_lst: 28.761526 N, -17.891497 E, ~2200 m), a difference below
  0.002 deg in zenith angle.
- ``CTAO-South``: Paranal area, Chile. 24d41m0.34s S, 70d18m58.84s W (cta-observatory.org,
  "Array locations: Chile"), height 2150 m as used by the CTA Monte-Carlo group (same source).

Offline IERS (../shared/domain.md, "Working offline with astropy"): site computing has no
internet, so astropy must never try to download IERS-A or leap-second tables. `offline_iers`
switches downloading off and sets ``auto_max_age = None`` so that times beyond the predictions
of the bundled ``astropy-iers-data`` table are interpolated from its last values instead of
raising. The worst case is an unknown UT1-UTC (|UT1-UTC| < 0.9 s by the definition of UTC) and
polar motion (< 1 arcsec): at most ~0.004 deg in hour angle, negligible for airmass corrections.
Keep ``astropy-iers-data`` reasonably current in the deployed environment all the same.
"""

from __future__ import annotations

import astropy.units as u
from astropy.coordinates import EarthLocation
from pydantic import BaseModel, Field, model_validator

__all__ = ["SITES", "SiteConfig", "earth_location", "offline_iers"]

# name -> (latitude deg, longitude deg east, height m); sources in the module docstring
SITES: dict[str, tuple[float, float, float]] = {
    "CTAO-North": (28.0 + 45 / 60 + 43.7904 / 3600, -(17.0 + 53 / 60 + 31.218 / 3600), 2147.0),
    "CTAO-South": (-(24.0 + 41 / 60 + 0.34 / 3600), -(70.0 + 18 / 60 + 58.84 / 3600), 2150.0),
}


class SiteConfig(BaseModel):
    """A preset by `name`, or explicit coordinates (then `name` is only a label)."""

    name: str | None = "CTAO-North"
    lat_deg: float | None = Field(default=None, ge=-90, le=90)
    lon_deg: float | None = Field(default=None, ge=-180, le=360)
    height_m: float | None = Field(default=None, ge=-500, le=10_000)

    @model_validator(mode="after")
    def _known_or_explicit(self) -> SiteConfig:
        explicit = (self.lat_deg, self.lon_deg, self.height_m)
        if all(v is not None for v in explicit):
            return self
        if any(v is not None for v in explicit):
            raise ValueError("give all of lat_deg, lon_deg, height_m, or none of them")
        if self.name not in SITES:
            raise ValueError(f"unknown site {self.name!r}; presets: {sorted(SITES)}")
        return self

    def coordinates(self) -> tuple[float, float, float]:
        """(latitude deg, longitude deg east, height m)."""
        if self.lat_deg is not None and self.lon_deg is not None and self.height_m is not None:
            return self.lat_deg, self.lon_deg, self.height_m
        return SITES[str(self.name)]


def earth_location(cfg: SiteConfig | dict | str) -> EarthLocation:
    """The site as an astropy EarthLocation (geodetic WGS84)."""
    if isinstance(cfg, str):
        cfg = SiteConfig(name=cfg)
    elif isinstance(cfg, dict):
        cfg = SiteConfig.model_validate(cfg)
    lat, lon, height = cfg.coordinates()
    return EarthLocation.from_geodetic(lon=lon * u.deg, lat=lat * u.deg, height=height * u.m)


def offline_iers() -> None:
    """Never download IERS or leap-second data; use the bundled tables whatever their age.

    Call at start-up and in every worker process (fram.py and reader.py call it at import).
    """
    from astropy.utils import iers

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
