"""Writing pedestal and flat-field run files (../../schemas/formats/camera_run.md), as
`reader` reads them: streamed row block by row block (`RunWriter`) or a whole run at once
(`write_run`). `simulate` writes its synthetic runs with it."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from astropy.io import fits
from calibd.handlers.camera.reader import RUN_TYPES

__all__ = ["RunWriter", "write_run"]


class RunWriter:
    """Write a run file row block by row block (the binary table is streamed to disk).

    `RunWriter(path, n_events=..., ...)` writes the headers; `write(...)` appends events;
    `close()` (or leaving the `with` block) checks that `n_events` rows came and pads the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        tel_id: int,
        obs_id: int,
        run_type: str,
        n_events: int,
        n_gains: int,
        n_pixels: int,
        mode: Literal["waveform", "image"],
        n_samples: int | None = None,
        waveform_dtype: str = "int16",
        timesys: str = "UTC",
        window_width: int | None = None,
    ) -> None:
        if run_type not in RUN_TYPES:
            raise ValueError(f"run_type must be one of {RUN_TYPES}")
        if mode == "waveform" and not n_samples:
            raise ValueError("waveform mode needs n_samples")
        self.n_events, self._written = n_events, 0
        self._mode = mode
        primary = fits.Header()
        primary["SIMPLE"] = True
        primary["BITPIX"] = 8
        primary["NAXIS"] = 0
        primary["EXTEND"] = True
        primary["TEL_ID"] = (int(tel_id), "telescope id")
        primary["OBS_ID"] = (int(obs_id), "observation id")
        primary["RUNTYPE"] = (run_type, "PEDESTAL or FLATFIELD")
        primary["N_GAINS"] = (int(n_gains), "gain channels")
        primary["N_PIXELS"] = (int(n_pixels), "camera pixels")
        if mode == "waveform":
            primary["HIERARCH N_SAMPLES"] = (int(n_samples), "samples per waveform")
        if window_width is not None and mode == "image":
            primary["WINWIDTH"] = (int(window_width), "integration window of IMAGE [samples]")
        primary["TIMESYS"] = (timesys, "time scale of TIME")
        cols = [
            fits.Column("EVENT_ID", "K"),
            fits.Column("TIME", "D", unit="d"),
            fits.Column("EVENT_TYPE", "I"),
        ]
        fields: list[tuple] = [("EVENT_ID", ">i8"), ("TIME", ">f8"), ("EVENT_TYPE", ">i2")]
        if mode == "waveform":
            shape = (n_gains, n_pixels, n_samples)
            code = {"int16": "I", "int32": "J", "float32": "E"}[waveform_dtype]
            dim = f"({n_samples},{n_pixels},{n_gains})"
            cols.append(fits.Column("WAVEFORM", f"{int(np.prod(shape))}{code}", dim=dim))
            fields.append(("WAVEFORM", np.dtype(waveform_dtype).newbyteorder(">"), shape))
        else:
            shape = (n_gains, n_pixels)
            dim = f"({n_pixels},{n_gains})"
            for col in ("IMAGE", "PEAK_TIME"):
                cols.append(fits.Column(col, f"{n_gains * n_pixels}E", dim=dim))
                fields.append((col, ">f4", shape))
        self._dtype = np.dtype(fields)
        table = fits.BinTableHDU.from_columns(cols, nrows=0, name="EVENTS").header
        table["NAXIS2"] = n_events
        if table["NAXIS1"] != self._dtype.itemsize:  # pragma: no cover - a bug, not an input
            raise RuntimeError("row layout does not match the FITS header")
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(primary.tostring().encode("ascii"))
        self._file.write(table.tostring().encode("ascii"))

    def write(
        self,
        event_ids: np.ndarray,
        times: np.ndarray,
        event_types: np.ndarray,
        *,
        waveforms: np.ndarray | None = None,
        images: np.ndarray | None = None,
        peak_times: np.ndarray | None = None,
    ) -> None:
        """Append events; arrays share their first axis."""
        n = len(event_ids)
        if self._written + n > self.n_events:
            raise ValueError(f"more than the announced {self.n_events} events")
        rec = np.empty(n, dtype=self._dtype)
        rec["EVENT_ID"], rec["TIME"], rec["EVENT_TYPE"] = event_ids, times, event_types
        if self._mode == "waveform":
            rec["WAVEFORM"] = waveforms
        else:
            rec["IMAGE"], rec["PEAK_TIME"] = images, peak_times
        self._file.write(rec.tobytes())
        self._written += n

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            if self._written != self.n_events:
                raise ValueError(f"{self._written} events written, {self.n_events} announced")
            size = self._written * self._dtype.itemsize
            self._file.write(b"\0" * (-size % 2880))
        finally:
            self._file.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_run(
    path: str | os.PathLike,
    *,
    tel_id: int,
    obs_id: int,
    run_type: str,
    event_ids: np.ndarray,
    times: np.ndarray,
    event_types: np.ndarray,
    waveforms: np.ndarray | None = None,
    images: np.ndarray | None = None,
    peak_times: np.ndarray | None = None,
    timesys: str = "UTC",
    window_width: int | None = None,
) -> None:
    """Write a whole run at once: `waveforms` (n_events, n_gains, n_pixels, n_samples) or
    `images` and `peak_times` (n_events, n_gains, n_pixels)."""
    if (waveforms is None) == (images is None):
        raise ValueError("give either waveforms or images (with peak_times)")
    if waveforms is not None:
        waveforms = np.asarray(waveforms)
        n, n_gains, n_pixels, n_samples = waveforms.shape
        mode = "waveform"
        if waveforms.dtype in (np.int8, np.uint8, np.int16):
            dtype = "int16"
        else:
            dtype = "int32" if waveforms.dtype.kind in "iu" else "float32"
    else:
        if peak_times is None:
            raise ValueError("images need peak_times")
        n, n_gains, n_pixels = np.shape(images)
        mode, dtype, n_samples = "image", "float32", None
    with RunWriter(
        path,
        tel_id=tel_id,
        obs_id=obs_id,
        run_type=run_type,
        n_events=n,
        n_gains=n_gains,
        n_pixels=n_pixels,
        mode=mode,
        n_samples=n_samples,
        waveform_dtype=dtype,
        timesys=timesys,
        window_width=window_width,
    ) as writer:
        writer.write(
            event_ids, times, event_types, waveforms=waveforms, images=images, peak_times=peak_times
        )
