"""What a ctapipe HDF5 file carries besides its data: `/configuration` (the instrument
description, copied restricted to some telescopes, and the observation-block table) and the
CTAO reference metadata in the root attributes (`reference_metadata`: the `CTA ...` keys of
ctapipe's `ctapipe.io.metadata.Reference.to_dict()`, ctapipe's own defaults where calibd has
nothing better).

ctapipe's `SubarrayDescription.to_hdf` writes `subarray/layout` (one row per telescope, with
`camera_index` and `optics_index`), `telescope/optics` (one row per optics type) and
`telescope/camera/geometry_<i>` + `readout_<i>` per camera type. `copy_instrument` copies the
layout rows of the chosen telescopes, only the optics rows and camera tables they use
(re-indexed from 0, as `SubarrayDescription.select_subarray(...).to_hdf` would) and every
table's attributes (units, TAB_VER, the layout's `name` and reference location).

`write_observation_blocks` writes `/configuration/observation/observation_block` with the
columns and CTAFIELD attributes ctapipe's DataWriter gives `ObservationBlockContainer`, except
that the enum columns stay integers (ctapipe pickles the enum class into an attribute).
PyTables only: ctapipe is not needed to write either.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import tables
from astropy.time import Time

from calibd.handler_api import __version__

__all__ = [
    "DATA_MODEL_VERSION",
    "INSTRUMENT_GROUP",
    "OBSERVATION_BLOCK_TABLE",
    "UNKNOWN_ID",
    "CameraInfo",
    "ObservationBlock",
    "ReferenceInfo",
    "copy_instrument",
    "read_cameras",
    "reference_metadata",
    "write_observation_blocks",
]

INSTRUMENT_GROUP = "/configuration/instrument"
_LAYOUT = f"{INSTRUMENT_GROUP}/subarray/layout"
_OPTICS = f"{INSTRUMENT_GROUP}/telescope/optics"
_CAMERA = f"{INSTRUMENT_GROUP}/telescope/camera"
OBSERVATION_BLOCK_TABLE = "/configuration/observation/observation_block"
#: ctapipe's UNKNOWN_ID (an unknown scheduling block)
UNKNOWN_ID = 2**64 - 1
#: ctapipe 0.28's `ctapipe.io.datawriter.DATA_MODEL_VERSION` (HDF5Merger checks it)
DATA_MODEL_VERSION = "v7.1.0"


@dataclass(frozen=True)
class CameraInfo:
    """What the writer checks a telescope's coefficients against."""

    tel_id: int
    camera_name: str
    n_pixels: int
    n_channels: int
    sampling_rate_ghz: float


def _decode(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def read_cameras(h5: tables.File) -> dict[int, CameraInfo]:
    """The camera of every telescope in an open file's instrument description."""
    layout = h5.get_node(_LAYOUT).read()
    cameras = {}
    for row in layout:
        idx = int(row["camera_index"])
        geometry = h5.get_node(f"{_CAMERA}/geometry_{idx}")
        readout = h5.get_node(f"{_CAMERA}/readout_{idx}")
        tel_id = int(row["tel_id"])
        cameras[tel_id] = CameraInfo(
            tel_id=tel_id,
            camera_name=str(_decode(geometry.attrs["CAM_ID"])),
            n_pixels=int(geometry.nrows),
            n_channels=int(readout.attrs["NCHAN"]),
            sampling_rate_ghz=float(readout.attrs["SAMPFREQ"]),
        )
    return cameras


def _copy_rows(
    src: tables.Table, dst_file: tables.File, path: str, rows: np.ndarray, name: str | None
) -> None:
    where, _, leaf = path.rpartition("/")
    if where in dst_file:
        group = dst_file.get_node(where)
    else:
        group = dst_file.create_group(*where.rsplit("/", 1), createparents=True)
    table = dst_file.create_table(
        group, leaf, description=src.description, filters=src.filters, expectedrows=len(rows)
    )
    table.append(rows)
    src.attrs._f_copy(table)
    if name is not None:
        table.attrs["name"] = name
        table.attrs["SUBARRAY"] = name


def copy_instrument(
    source: str,
    dst: tables.File,
    tel_ids: Iterable[int],
    subarray_name: str | None = None,
) -> dict[int, CameraInfo]:
    """Copy `/configuration/instrument` of the file `source` into the open file `dst`, for
    exactly `tel_ids`; returns their `CameraInfo`. `subarray_name` defaults to the source's
    name with the telescope ids appended (`<name>_1,2`) when only some are copied."""
    wanted = sorted({int(t) for t in tel_ids})
    if not wanted:
        raise ValueError("no telescope to copy")
    with tables.open_file(source, mode="r") as src:
        if _LAYOUT not in src:
            raise ValueError(f"{source}: no {_LAYOUT} (not a ctapipe instrument description)")
        layout_node = src.get_node(_LAYOUT)
        layout = layout_node.read()
        missing = sorted(set(wanted) - {int(t) for t in layout["tel_id"]})
        if missing:
            raise ValueError(f"{source}: telescopes {missing} not in the instrument description")
        rows = layout[np.isin(layout["tel_id"], wanted)]
        rows = rows[np.argsort(rows["tel_id"], kind="stable")]
        cameras = read_cameras(src)

        camera_map = {int(i): n for n, i in enumerate(dict.fromkeys(rows["camera_index"]))}
        optics_map = {int(i): n for n, i in enumerate(dict.fromkeys(rows["optics_index"]))}
        rows["camera_index"] = [camera_map[int(i)] for i in rows["camera_index"]]
        rows["optics_index"] = [optics_map[int(i)] for i in rows["optics_index"]]

        name = subarray_name
        if name is None and len(rows) < len(layout):
            source_name = str(_decode(layout_node.attrs["name"]))
            name = f"{source_name}_{','.join(str(t) for t in wanted)}"
        _copy_rows(layout_node, dst, _LAYOUT, rows, name)

        optics_node = src.get_node(_OPTICS)
        optics = optics_node.read()[list(optics_map)]
        _copy_rows(optics_node, dst, _OPTICS, optics, None)

        camera_group = dst.create_group(
            f"{INSTRUMENT_GROUP}/telescope", "camera", createparents=True
        )
        for old, new in camera_map.items():
            for kind in ("geometry", "readout"):
                src.copy_node(f"{_CAMERA}/{kind}_{old}", camera_group, f"{kind}_{new}")
    return {t: cameras[t] for t in wanted}


@dataclass(frozen=True)
class ObservationBlock:
    """A row of ctapipe's observation-block table (`ObservationBlockContainer`); the enum
    columns (`state`, `subarray_pointing_frame`) are stored as their integer values."""

    obs_id: int
    sb_id: int = UNKNOWN_ID
    producer_id: str = "unknown"
    state: int = -1  # ObservationBlockState.UNKNOWN
    actual_start_time: Time | None = None
    actual_duration_min: float = float("nan")


def write_observation_blocks(h5: tables.File, blocks: Sequence[ObservationBlock]) -> None:
    """One row per observation block (`ObservationBlockContainer` columns; times MJD TAI)."""
    nans = [np.nan] * len(blocks)
    start = [0.0 if b.actual_start_time is None else b.actual_start_time.tai.mjd for b in blocks]
    columns = {
        "obs_id": tables.UInt64Col(pos=0),
        "sb_id": tables.UInt64Col(pos=1),
        "producer_id": tables.StringCol(max(len(b.producer_id) for b in blocks) or 1, pos=2),
        "state": tables.Int64Col(pos=3),
        "subarray_pointing_lat": tables.Float64Col(pos=4),
        "subarray_pointing_lon": tables.Float64Col(pos=5),
        "subarray_pointing_frame": tables.Int64Col(pos=6),
        "scheduled_duration": tables.Float64Col(pos=7),
        "scheduled_start_time": tables.Float64Col(pos=8),
        "actual_start_time": tables.Float64Col(pos=9),
        "actual_duration": tables.Float64Col(pos=10),
    }
    data = {
        "obs_id": [b.obs_id for b in blocks],
        "sb_id": [b.sb_id for b in blocks],
        "producer_id": [b.producer_id.encode() for b in blocks],
        "state": [b.state for b in blocks],
        "subarray_pointing_lat": nans,
        "subarray_pointing_lon": nans,
        "subarray_pointing_frame": [-1] * len(blocks),
        "scheduled_duration": nans,
        "scheduled_start_time": [0.0] * len(blocks),  # ctapipe's NAN_TIME: MJD 0
        "actual_start_time": start,
        "actual_duration": [b.actual_duration_min for b in blocks],
    }
    table = h5.create_table(
        *OBSERVATION_BLOCK_TABLE.rsplit("/", 1), description=columns, createparents=True
    )
    record = np.empty(len(blocks), dtype=table.description._v_dtype)
    for name in table.colnames:
        record[name] = data[name]
    table.append(record)
    units = {4: "deg", 5: "deg", 7: "min", 10: "min"}
    for i, name in enumerate(table.colnames):
        table.attrs[f"CTAFIELD_{i}_NAME"] = name
    for i, unit in units.items():
        table.attrs[f"CTAFIELD_{i}_TRANSFORM"] = "quantity"
        table.attrs[f"CTAFIELD_{i}_UNIT"] = unit
    table.attrs["CTAFIELD_2_TRANSFORM"] = "string"
    table.attrs["CTAFIELD_2_MAXLEN"] = np.int64(columns["producer_id"].itemsize)
    for i in (8, 9):
        table.attrs[f"CTAFIELD_{i}_TRANSFORM"] = "time"
        table.attrs[f"CTAFIELD_{i}_TIME_FORMAT"] = "mjd"
        table.attrs[f"CTAFIELD_{i}_TIME_SCALE"] = "tai"


@dataclass(frozen=True)
class ReferenceInfo:
    """What calibd knows for the CTAO reference metadata; the rest is ctapipe's defaults."""

    obs_ids: Sequence[int] = ()
    description: str = "calibd camera calibration coefficients"
    data_category: str = "Other"  # ctapipe allows Sim, A, B, C, Other
    contact_name: str = "unknown"
    contact_email: str = "unknown"
    contact_organization: str = "CTAO"
    site: str = "Other"
    activity_name: str = "calibd camera_calibration"
    activity_id: str = ""
    activity_start: Time | None = None


def reference_metadata(info: ReferenceInfo, instrument_id: str, n_tels: int) -> dict[str, str]:
    """The `CTA ...` root attributes ctapipe's `Reference.to_dict()` makes (same keys)."""
    now = Time.now().utc.iso
    start = info.activity_start.utc.iso if info.activity_start is not None else now
    return {
        "CTA REFERENCE VERSION": "1",
        "CTA CONTACT NAME": info.contact_name,
        "CTA CONTACT EMAIL": info.contact_email,
        "CTA CONTACT ORGANIZATION": info.contact_organization,
        "CTA PRODUCT DESCRIPTION": info.description,
        "CTA PRODUCT CREATION TIME": now,
        "CTA PRODUCT ID": str(uuid.uuid4()),
        "CTA PRODUCT DATA CATEGORY": info.data_category,
        "CTA PRODUCT DATA LEVELS": "DL1",
        "CTA PRODUCT DATA ASSOCIATION": "Telescope" if n_tels == 1 else "Subarray",
        "CTA PRODUCT DATA MODEL NAME": "ASWG",
        "CTA PRODUCT DATA MODEL VERSION": DATA_MODEL_VERSION,
        "CTA PRODUCT DATA MODEL URL": "",
        "CTA PRODUCT FORMAT": "hdf5",
        "CTA PROCESS TYPE": "Observation",
        "CTA PROCESS SUBTYPE": "",
        "CTA PROCESS ID": ",".join(str(i) for i in info.obs_ids),
        "CTA ACTIVITY NAME": info.activity_name,
        "CTA ACTIVITY TYPE": "software",
        "CTA ACTIVITY ID": info.activity_id or str(uuid.uuid4()),
        "CTA ACTIVITY START TIME": start,
        "CTA ACTIVITY STOP TIME": now,
        "CTA ACTIVITY SOFTWARE NAME": "calibd",
        "CTA ACTIVITY SOFTWARE VERSION": __version__,
        "CTA INSTRUMENT SITE": info.site,
        "CTA INSTRUMENT CLASS": "Telescope" if n_tels == 1 else "Subarray",
        "CTA INSTRUMENT TYPE": "unspecified",
        "CTA INSTRUMENT SUBTYPE": "unspecified",
        "CTA INSTRUMENT VERSION": "unspecified",
        "CTA INSTRUMENT ID": instrument_id,
    }
