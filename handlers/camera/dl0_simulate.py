"""Synthetic DL0 calibration observation blocks with a known truth (`simulate_dl0_block`).

The camera is `simulate.camera_truth(model)` (raw DC units). ACADA has already calibrated DL0
data with NOMINAL coefficients: pe = (raw - model.pedestal_per_sample[g]) /
model.gain_dc_per_pe[g], so what is left to recover is the RESIDUAL, in `DL0Truth`:

* `relative_gain` (n_gains, n_pixels) = true gain / nominal gain (close to 1): the full-trace
  sum of a flat-field pulse is relative_gain x A, A the photo-electrons' amplitude sum
  (n ~ Poisson(n_pe_mean), single-p.e. amplitudes of excess noise factor f2);
* `pedestal_residual` (n_gains, n_pixels): pe per sample left after ACADA's subtraction
  ((true - nominal pedestal) / nominal gain; hot pixels stand out);
* `noise_pe` (n_gains, n_pixels): noise per sample in pe (noisy pixels x noisy_noise_factor);
* inherited: `n_pe_mean` (0 for dead pixels), `time_offset` (samples; pulse peak at
  model.pulse_time + time_offset + trigger jitter), `dead`, `hot`, `noisy`, `bad`;
* `not_stored`: `model.nan_pixels` are never stored (DVR status 0, num_pixels_survived < n);
* per event (index i = 0..n_events-1, event_id = i + 1): `event_type` (FLATFIELD 0 for even i,
  PEDESTAL 2 for odd i: pairs with the same timestamp, as ACADA's calibration trigger),
  `stream` (i % n_streams), `chunk`, `time_s`/`time_qns` (TAI); `files` written.

Gain selection (one channel out): high gain, or low gain for pixels whose A exceeds
`gain_switch_pe` (two-gain models only). `block_event(truth, i)` regenerates event i's pe
waveform before uint16 quantisation (each event has its own random stream), and
`flatfield_amplitude(truth, i)` its photo-electrons A per pixel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from calibd.handlers.camera.dl0_writer import DL0Writer, high_res_time
from calibd.handlers.camera.simulate import CameraModel, Truth, camera_truth

if TYPE_CHECKING:
    from calibd.handler_api import Progress


__all__ = ["DL0Truth", "block_event", "flatfield_amplitude", "simulate_dl0_block"]


@dataclass(frozen=True)
class DL0Truth(Truth):
    """`Truth` of the raw camera plus the DL0 residual and the block's events (module doc)."""

    relative_gain: np.ndarray
    pedestal_residual: np.ndarray
    noise_pe: np.ndarray
    not_stored: np.ndarray
    event_id: np.ndarray
    event_type: np.ndarray
    stream: np.ndarray
    chunk: np.ndarray
    time_s: np.ndarray
    time_qns: np.ndarray
    files: tuple[str, ...]
    pixel_id_map: np.ndarray
    waveform_scale: float
    waveform_offset: float
    gain_switch_pe: float | None
    model: CameraModel
    seed: int


def _pulse(t: float, n_samples: int, sigma: float) -> np.ndarray:
    p = np.exp(-0.5 * ((np.arange(n_samples) - t) / sigma) ** 2)
    return p / p.sum(axis=-1, keepdims=True)


def _amplitude(truth: DL0Truth, rng: np.random.Generator) -> np.ndarray:
    n_pe = rng.poisson(truth.n_pe_mean)
    v = truth.model.f2 - 1.0
    return rng.gamma(n_pe / v, v) if v > 0 else n_pe.astype(np.float64)


def flatfield_amplitude(truth: DL0Truth, index: int) -> np.ndarray:
    """Flat-field event `index`'s photo-electrons per pixel, A (n_pixels,): what a calibrated
    image of the event should show (0 for a pedestal event)."""
    if index % 2:
        return np.zeros(truth.model.n_pixels)
    return _amplitude(truth, np.random.default_rng([truth.seed, index]))


def block_event(truth: DL0Truth, index: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Event `index`: (event_type, pe (1, n_pixels, n_samples) nominal order, gain per pixel)."""
    m = truth.model
    rng = np.random.default_rng([truth.seed, index])
    flat = index % 2 == 0
    amplitude = _amplitude(truth, rng) if flat else np.zeros(m.n_pixels)
    gain = np.zeros(m.n_pixels, dtype=np.int8)
    if truth.gain_switch_pe is not None and m.n_gains > 1:
        gain[amplitude > truth.gain_switch_pe] = 1
    pix = np.arange(m.n_pixels)
    t = m.pulse_time + truth.time_offset + m.trigger_jitter * rng.standard_normal()
    wf = rng.standard_normal((m.n_pixels, m.n_samples)) * truth.noise_pe[gain, pix][:, None]
    wf += truth.pedestal_residual[gain, pix][:, None]
    if flat:
        light = truth.relative_gain[gain, pix] * amplitude
        wf += light[:, None] * _pulse(t[:, None], m.n_samples, m.pulse_sigma)
    return (0 if flat else 2), wf[None], gain


def simulate_dl0_block(
    directory: str | os.PathLike,
    model: CameraModel | dict,
    n_events: int,
    *,
    tel_id: int,
    sb_id: int,
    obs_id: int,
    start: datetime,
    n_streams: int = 4,
    chunk_size: int,
    seed: int,
    pixel_id_map: np.ndarray | None = None,
    gain_switch_pe: float | None = None,
    waveform_scale: float = 60.0,
    waveform_offset: float = 5.0,
    level: str = "DL0",
    bar: Progress | None = None,
) -> DL0Truth:
    """Write an observation block of interleaved flat-field/pedestal events into `directory`
    (ACADA names; events dealt round-robin over SDH000..; a new chunk file after `chunk_size`
    events of a stream) and return its truth. Files are written one after the other;
    `level="R1"` writes R1 files (no DVR: `nan_pixels` must be empty)."""
    m = CameraModel.model_validate(model)
    if n_events < 1 or n_streams < 1 or chunk_size < 1:
        raise ValueError("n_events, n_streams and chunk_size must be >= 1")
    camera = camera_truth(m)
    nominal_gain = np.asarray(m.gain_dc_per_pe)[:, None]
    nominal_ped = np.asarray(m.pedestal_per_sample)[:, None]
    index = np.arange(n_events)
    s0, q0 = high_res_time(start)
    quarter_ns = q0 + np.rint((index // 2) * (4e9 / m.event_rate_hz)).astype(np.int64)
    stream = index % n_streams
    chunk = (index // n_streams) // chunk_size
    pid = np.arange(m.n_pixels) if pixel_id_map is None else np.asarray(pixel_id_map)
    fields = {k: getattr(camera, k) for k in camera.__dataclass_fields__}
    truth = DL0Truth(
        **fields,
        relative_gain=camera.gain / nominal_gain,
        pedestal_residual=(camera.pedestal_per_sample - nominal_ped) / nominal_gain,
        noise_pe=camera.noise_per_sample / nominal_gain,
        not_stored=camera.nan_pixels,
        event_id=index + 1,
        event_type=np.where(index % 2 == 0, 0, 2),
        stream=stream,
        chunk=chunk,
        time_s=s0 + quarter_ns // 4_000_000_000,
        time_qns=quarter_ns % 4_000_000_000,
        files=(),
        pixel_id_map=pid,
        waveform_scale=waveform_scale,
        waveform_offset=waveform_offset,
        gain_switch_pe=gain_switch_pe,
        model=m,
        seed=seed,
    )
    stored = np.ones(m.n_pixels, dtype=bool)
    stored[truth.not_stored] = False
    files = []
    for sdh in range(n_streams):
        for c in np.unique(chunk[stream == sdh]):
            members = index[(stream == sdh) & (chunk == c)]
            with DL0Writer(
                directory,
                tel_id=tel_id,
                sdh=sdh,
                start=start,
                sb_id=sb_id,
                obs_id=obs_id,
                chunk=int(c),
                n_pixels=m.n_pixels,
                n_samples=m.n_samples,
                max_events=len(members),
                waveform_scale=waveform_scale,
                waveform_offset=waveform_offset,
                pixel_id_map=pid,
                level=level,
            ) as writer:
                if bar is not None:
                    bar.total = n_events
                    bar.advance(len(members), note=os.path.basename(writer.path))
                for i in members:
                    event_type, pe, gain = block_event(truth, int(i))
                    time = (int(truth.time_s[i]), int(truth.time_qns[i]))
                    writer.write_event(int(i) + 1, event_type, time, pe, stored=stored, gain=gain)
            files.append(os.fspath(Path(writer.path)))
    return replace(truth, files=tuple(files))
