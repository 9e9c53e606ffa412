"""DL0 telescope calibration-stream (CAL) files written as ACADA's ADH (acada-mock 0.1.1) does.

`protozfits.FlatProtobufZOFits` with the mock's parameters; HDUs PRIMARY, `DataStream`,
`CameraConfiguration`, `Events` in that order; every column `diffman16`, `Events.waveform`
`fact`; the ctao-datamodel primary keys in the mock's order (strings cut to 68 characters:
protozfits writes no CONTINUE cards); TAI times (seconds since 1970-01-01T00:00:00 TAI and
quarter ns); waveforms stored as uint16 (pe + offset) x scale in readout order; pixel_status
with the DVR bits (1 passthrough when every pixel is stored, 3 for pixels kept by a reduced
readout, 0 not stored) and the gain bit (4 high, 8 low; both for two-channel data);
CameraConfiguration with `num_pixels`, `num_channels` and `num_samples_nominal` set (which
ctapipe-io-zfits needs). Names: `dl0_file_name`; `flush()` completes the file and only then
creates the relative `<name>.trigger` symlink, as ACADA does for finished files.
`dl0_simulate.simulate_dl0_block` writes whole observation blocks with a known truth.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np
from astropy.time import Time

from calibd.handler_api import __version__

__all__ = ["DL0Writer", "dl0_file_name", "high_res_time", "observation_night"]

ROWS_PER_TILE = 400
_STATUS_HIGH, _STATUS_LOW = 4, 8


def dl0_file_name(
    tel_id: int, sdh: int, start: datetime, sb_id: int, obs_id: int, chunk: int, kind: str = "CAL"
) -> str:
    """ACADA's telescope file name, e.g. TEL001_SDH000_20260101T220000_SBID..._TEL_CAL_CHUNK000."""
    return (
        f"TEL{tel_id:03d}_SDH{sdh:03d}_{start.astimezone(UTC):%Y%m%dT%H%M%S}_SBID{sb_id:010d}"
        f"_OBSID{obs_id:010d}_TEL_{kind}_CHUNK{chunk:03d}.fits.fz"
    )


def observation_night(start: datetime) -> str:
    """The evening of observation (UTC hour < 12 belongs to the previous day)."""
    return (start.astimezone(UTC) - timedelta(hours=12)).date().isoformat()


def high_res_time(start: datetime) -> tuple[int, int]:
    """(TAI seconds since 1970-01-01T00:00:00 TAI, quarter ns) of a UTC datetime."""
    whole = start.astimezone(UTC).replace(microsecond=0)
    s = round(Time(whole, scale="utc").unix_tai)
    return int(s), start.microsecond * 4000


def _primary(
    tel_id: int, sdh: int, start: datetime, sb_id: int, obs_id: int, chunk: int, level: str
) -> list[tuple[str, str | int]]:
    now = Time.now().utc.isot
    return [
        ("CTAOMETA", "2.1.0"),
        ("TITLE", f"{level} Telescope Events, Interleaved Calibration Events"),
        ("DATALEVL", level),
        ("DATADIV", "Event"),
        ("DATAASSO", "Telescope"),
        ("DATATYPE", "Calibration"),
        ("DATAID", str(uuid.uuid4())),
        ("OBS_ID", obs_id),
        ("AE_ID", tel_id),
        ("AE_CLASS", "TEL"),
        ("CHUNK_ID", chunk),
        ("OBSNIGHT", observation_night(start)),
        ("TELESCOP", "CTAO"),
        ("DATASRC", f"SDH{sdh:03d}"),
        ("RELEASE", "Dummy Test Data"),
        ("LICENSE", "CC-BY-SA-4.0"),
        ("LICENURL", "https://creativecommons.org/licenses/by-sa/4.0/"),
        ("MODEL", f"CTAO ADH {level}"),
        ("MODELVER", "2.2.0"),
        (
            "MODELURL",
            "https://gitlab.cta-observatory.org/cta-computing/common/acada-array-elements/adh-apis",
        ),
        ("CREATED", now),
        ("AUTHOR", "calibd"),
        ("ORIGIN", "CTAO"),
        ("EMAIL", "calibd@example.invalid"),
        ("ACTPROC", "acquisition"),
        ("ACTIVITY", "calibd-simulation"),
        ("ACTDESC", f"Synthetic {level} calibration events written by calibd"),
        ("ACTID", str(uuid.uuid4())),
        ("ACTSTART", now),
        ("SOFTWARE", "calibd"),
        ("SOFTVER", __version__),
        ("SOFTURL", "https://example.invalid/calibd"),
        ("ACTCONF", "calibd-simulation"),
        ("SB_ID", sb_id),
    ]


class DL0Writer:
    """One DL0 (or, `level="R1"`, R1) CAL file of at most `max_events` events; `write_event`
    takes photo-electrons in nominal pixel order, `flush` completes the file and creates its
    `.trigger` symlink. R1 has ACADA's R1v1 messages and no DVR (every pixel stored)."""

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        tel_id: int,
        sdh: int,
        start: datetime,
        sb_id: int,
        obs_id: int,
        chunk: int,
        n_pixels: int,
        n_samples: int,
        n_channels: int = 1,
        max_events: int = ROWS_PER_TILE,
        waveform_scale: float = 60.0,
        waveform_offset: float = 5.0,
        pixel_id_map: np.ndarray | None = None,
        level: str = "DL0",
    ) -> None:
        from protozfits import FlatProtobufZOFits, numpy_to_any_array

        if n_channels not in (1, 2):
            raise ValueError("n_channels must be 1 or 2")
        if level not in _MESSAGES:
            raise ValueError(f"level must be one of {sorted(_MESSAGES)}")
        self.level = level
        DataStream, CameraConfiguration, self._event = _messages(level)
        pid = np.arange(n_pixels) if pixel_id_map is None else np.asarray(pixel_id_map)
        if sorted(pid.tolist()) != list(range(n_pixels)):
            raise ValueError("pixel_id_map must be a permutation of 0..n_pixels-1")
        self.path = Path(directory) / dl0_file_name(tel_id, sdh, start, sb_id, obs_id, chunk)
        self.tel_id, self.n_channels, self.max_events = tel_id, n_channels, max_events
        self.n_pixels, self.n_samples = n_pixels, n_samples
        self.scale, self.offset = float(waveform_scale), float(waveform_offset)
        self.pixel_id_map = pid.astype(np.intp)
        self.n_events = 0
        self._done = False
        self._to_any = numpy_to_any_array
        row_kb = ceil((n_channels * n_pixels * (n_samples + 1) * 2 + 2 * n_pixels + 256) / 1024)
        _STDOUT.acquire()  # released by flush()
        try:
            self._zfits = FlatProtobufZOFits(
                n_tiles=ceil(max_events / ROWS_PER_TILE),
                rows_per_tile=ROWS_PER_TILE,
                max_compression_memory=4 * 256 * 1024,
                default_compression="diffman16",
                n_compression_threads=4,
                compression_block_size_kb=max(200, row_kb) * ROWS_PER_TILE,
            )
            z = self._zfits
            self.path.parent.mkdir(parents=True, exist_ok=True)  # protozfits aborts the process
            self.path.unlink(missing_ok=True)
            z.open(str(self.path))
            z.set_on_close(_make_trigger)
            for key, value in _primary(tel_id, sdh, start, sb_id, obs_id, chunk, level):
                if isinstance(value, str):
                    z.set_primary_string(key, value[:68].strip())
                else:
                    z.set_primary_int(key, value)
            z.move_to_new_table("DataStream")
            z.write_message(
                DataStream(
                    tel_id=tel_id,
                    sb_id=sb_id,
                    obs_id=obs_id,
                    waveform_scale=self.scale,
                    waveform_offset=self.offset,
                )
            )
            z.move_to_new_table("CameraConfiguration")
            z.write_message(
                CameraConfiguration(
                    tel_id=tel_id,
                    camera_config_id=1,
                    pixel_id_map=numpy_to_any_array(pid.astype(np.uint16)),
                    num_pixels=n_pixels,
                    num_channels=n_channels,
                    num_samples_nominal=n_samples,
                )
            )
            z.move_to_new_table("Events")
            z.request_explicit_compression("waveform", "fact")
        except BaseException:
            _STDOUT.release()
            raise

    def quantise(self, pe: np.ndarray) -> np.ndarray:
        """The uint16 values ACADA stores for photo-electrons `pe`."""
        return np.clip(np.rint((pe + self.offset) * self.scale), 0, 65535).astype(np.uint16)

    def write_event(
        self,
        event_id: int,
        event_type: int,
        time: tuple[int, int],
        pe: np.ndarray,
        *,
        stored: np.ndarray | None = None,
        gain: np.ndarray | None = None,
    ) -> None:
        """Write one event: `pe` (n_channels, n_pixels, n_samples) in nominal pixel order,
        `stored` (bool per nominal pixel, default all; R1: all), `gain` (per nominal pixel, 0
        high / 1 low, default high; 1-channel data only), `time` = (TAI s, quarter ns)."""
        if self.n_events >= self.max_events:
            raise ValueError(f"{self.path.name}: already {self.max_events} events")
        if pe.shape != (self.n_channels, self.n_pixels, self.n_samples):
            raise ValueError(f"waveform shape {pe.shape} does not match the file")
        pid = self.pixel_id_map
        keep = np.ones(self.n_pixels, bool) if stored is None else np.asarray(stored, bool)[pid]
        if self.level == "R1" and not keep.all():
            raise ValueError("R1 events store every pixel (no DVR)")
        status = np.zeros(self.n_pixels, dtype=np.uint8)  # readout order
        status[keep] = 1 if keep.all() else 3
        if self.n_channels == 2:
            status |= _STATUS_HIGH | _STATUS_LOW
        else:
            low = np.zeros(self.n_pixels, bool) if gain is None else np.asarray(gain)[pid] == 1
            status |= np.where(low, _STATUS_LOW, _STATUS_HIGH).astype(np.uint8)
        waveform = self.quantise(pe[:, pid[keep]])
        pixels = {"num_pixels" if self.level == "R1" else "num_pixels_survived": int(keep.sum())}
        self._zfits.write_message(
            self._event(
                event_id=event_id,
                tel_id=self.tel_id,
                event_type=event_type,
                event_time_s=time[0],
                event_time_qns=time[1],
                pixel_status=self._to_any(status),
                num_channels=self.n_channels,
                num_samples=self.n_samples,
                waveform=self._to_any(waveform.ravel()),
                **pixels,
            )
        )
        self.n_events += 1

    def flush(self) -> Path:
        """Complete the file (blocks until written; then the .trigger symlink exists)."""
        if not self._done:
            self._done = True
            try:
                self._zfits.close()
                self._zfits.flush()
            finally:
                _STDOUT.release()
        return self.path

    def __enter__(self) -> DL0Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


#: the protobuf messages of (DataStream, CameraConfiguration, Events) per level
_MESSAGES = {
    "DL0": ("DL0v1_Telescope_pb2", ("DataStream", "CameraConfiguration", "Event")),
    "R1": ("R1v1_pb2", ("TelescopeDataStream", "CameraConfiguration", "Event")),
}


def _messages(level: str) -> tuple[Any, Any, Any]:
    import importlib

    module, names = _MESSAGES[level]
    found = importlib.import_module(f"protozfits.{module}")
    return tuple(getattr(found, n) for n in names)  # type: ignore[return-value]


class _StdoutToStderr:
    """While any writer is open, file descriptor 1 points at stderr: the protozfits writer
    prints its progress ("Will use N thread(s)", "Closed <file>") to stdout, where
    `calibd simulate` prints its messages and the daemon its JSON log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: int | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                sys.stdout.flush()
                self._saved = os.dup(1)
                os.dup2(2, 1)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                os.dup2(self._saved, 1)
                os.close(self._saved)
                self._saved = None


_STDOUT = _StdoutToStderr()


def _make_trigger(path: str) -> None:
    """protozfits' on-close callback: `<file>.trigger -> <file>` (relative, same directory)."""
    p = Path(path)
    trigger = p.with_name(p.name + ".trigger")
    trigger.unlink(missing_ok=True)
    trigger.symlink_to(p.name)


def __getattr__(name: str) -> object:
    """`simulate_dl0_block`, `DL0Truth` and `block_event` live in `dl0_simulate` (which imports
    this module); they are importable from here too."""
    if name in ("simulate_dl0_block", "DL0Truth", "block_event"):
        from calibd.handlers.camera import dl0_simulate

        return getattr(dl0_simulate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
