"""Camera calibration drawn on the camera: pixel positions from a ctapipe instrument
description (`handlers.camera_block.instrument_file`, `/configuration/instrument` as
`SubarrayDescription.to_hdf` writes it), read with PyTables, drawn as a matplotlib
PolyCollection of hexagons or squares (ctapipe's orientation conventions, no ctapipe)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tables

__all__ = ["PixelGeometry", "camera_geometry", "draw_camera", "instrument_file"]

_LAYOUT = "/configuration/instrument/subarray/layout"
_CAMERA = "/configuration/instrument/telescope/camera"


@dataclass(frozen=True)
class PixelGeometry:
    camera_name: str
    pix_x: np.ndarray  # m
    pix_y: np.ndarray
    pix_area: np.ndarray  # m²
    pix_type: str  # "hexagon" or "square"
    pix_rotation_deg: float

    def polygons(self) -> np.ndarray:
        """(n_pixels, n_vertices, 2) outlines, as ctapipe's CameraDisplay draws them."""
        hexagon = self.pix_type.startswith("hex")
        n = 6 if hexagon else 4
        if hexagon:  # area = 3√3/2 r², first vertex up, turned by the pixel rotation
            radius = np.sqrt(self.pix_area * 2 / (3 * np.sqrt(3)))
            phase = np.pi / 2
        else:  # a square of side √area
            radius = np.sqrt(self.pix_area / 2)
            phase = np.pi / 4
        angles = phase + np.deg2rad(self.pix_rotation_deg) + 2 * np.pi * np.arange(n) / n
        xs = self.pix_x[:, None] + radius[:, None] * np.cos(angles)[None, :]
        ys = self.pix_y[:, None] + radius[:, None] * np.sin(angles)[None, :]
        return np.stack([xs, ys], axis=-1)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, tel_id: int) -> PixelGeometry | None:
    with tables.open_file(path, "r") as h5:
        layout = h5.get_node(_LAYOUT).read()
        rows = layout[layout["tel_id"] == tel_id]
        if not len(rows):
            return None
        node = h5.get_node(f"{_CAMERA}/geometry_{int(rows[0]['camera_index'])}")
        table = node.read()
        return PixelGeometry(
            camera_name=_text(node.attrs["CAM_ID"]),
            pix_x=np.asarray(table["pix_x"], dtype=float),
            pix_y=np.asarray(table["pix_y"], dtype=float),
            pix_area=np.asarray(table["pix_area"], dtype=float),
            pix_type=_text(node.attrs["PIX_TYPE"]).lower(),
            pix_rotation_deg=float(node.attrs["PIX_ROT"]),
        )


def instrument_file(settings: Any) -> Path | None:
    """`handlers.camera_block.instrument_file` of calibd's settings (None if unset)."""
    raw = ((getattr(settings, "handlers", None) or {}).get("camera_block") or {}).get(
        "instrument_file"
    )
    return Path(raw) if raw else None


def camera_geometry(settings: Any, tel_id: int | None, n_pixels: int) -> PixelGeometry | None:
    """The telescope's pixel geometry from the configured instrument description; None when
    none is configured or readable, the telescope is not in it or its pixel count differs."""
    path = instrument_file(settings)
    if path is None or tel_id is None:
        return None
    try:
        geometry = _read(str(path), path.stat().st_mtime_ns, int(tel_id))
    except (OSError, KeyError, ValueError, tables.NoSuchNodeError, tables.HDF5ExtError):
        return None
    if geometry is None or geometry.pix_x.size != n_pixels:
        return None
    return geometry


def draw_camera(ax, geometry: PixelGeometry, values: np.ndarray, label: str, cmap="viridis"):
    """Pixels coloured by `values` (NaN grey) with a colour bar."""
    from matplotlib import colormaps
    from matplotlib.collections import PolyCollection

    values = np.ma.masked_invalid(np.asarray(values, dtype=float))
    colours = colormaps[cmap].with_extremes(bad="lightgrey")
    pixels = PolyCollection(geometry.polygons(), array=values, cmap=colours, linewidths=0)
    finite = values.compressed()
    if finite.size:
        low, high = np.percentile(finite, [1, 99])
        pixels.set_clim(low, high if high > low else low + 1e-9)
    ax.add_collection(pixels)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set(xlabel="x [m]", ylabel="y [m]", title=label)
    ax.figure.colorbar(pixels, ax=ax, shrink=0.85)
    return pixels
