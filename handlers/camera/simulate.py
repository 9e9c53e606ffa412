"""Synthetic pedestal and flat-field runs with a known truth (../shared/domain.md, "Synthetic
truth for tests").

The camera (`camera_truth`, drawn from `CameraModel.seed`, the same for every run of a model):
per gain and pixel a gain G (DC per photo-electron of the *fully integrated* pulse, nominal
value x (1 + N(0, gain_spread))), a pedestal per sample and an electronic noise per sample;
per pixel a mean number of photo-electrons mu_i (flasher illumination, mu x (1 + N(0,
illumination_spread))) and a time offset. Injected faults: `dead` pixels see no light
(mu_i = 0), `hot` pixels have their pedestal x `hot_pedestal_factor`, `noisy` ones their
noise x `noisy_noise_factor`, `nan_pixels` read NaN (image mode, or float32 waveforms).

Events (`simulate_run`, drawn from its own seed and the run type): a flat-field event gives
pixel i n ~ Poisson(mu_i) photo-electrons of single-p.e. amplitudes a ~ Gamma(mean 1, variance
f2 - 1), so the amplitude sum A (Gamma(n / v, v), v = f2 - 1, drawn in one go) has the excess
noise factor F^2 = f2; both gains see the same A. Image mode writes
charge = G A + w ped + N(0, sqrt(w) noise) (w = `window_width`) and a peak time
pulse_time + offset_i + trigger jitter + N(0, time_noise); waveform mode writes per sample
ped + N(0, noise) + G A p(j - t), p a Gaussian pulse of `pulse_sigma` samples normalised to a
sum of 1 over the trace, t = pulse_time + offset_i + jitter, rounded to `waveform_dtype`.
Pedestal events have no light. Runs are written `chunk_size` events at a time.

A window of 8 samples starting 3 samples before the pulse peak holds all but ~0.03 % of a
pulse of sigma 1 sample (`contained_fraction` computes it for a fixed window), so gains
recovered from waveforms are G times that fraction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from calibd.handlers.camera.reader import EVENT_TYPE_CODES, RUN_TYPES
from calibd.handlers.camera.writer import RunWriter
from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from calibd.handler_api import Progress


__all__ = ["CameraModel", "Truth", "camera_truth", "contained_fraction", "simulate_run"]


class CameraModel(BaseModel):
    n_gains: int = Field(default=2, ge=1)
    n_pixels: int = Field(default=1855, ge=1)
    n_samples: int = Field(default=40, ge=4)
    gain_dc_per_pe: tuple[float, ...] = (100.0, 100.0 / 17.0)
    gain_spread: float = Field(default=0.10, ge=0, lt=0.3)
    pedestal_per_sample: tuple[float, ...] = (400.0, 400.0)
    pedestal_spread: float = Field(default=0.02, ge=0)
    noise_per_sample: tuple[float, ...] = (6.0, 2.0)
    noise_spread: float = Field(default=0.05, ge=0)
    mu: float = Field(default=80.0, gt=0)
    illumination_spread: float = Field(default=0.05, ge=0, lt=0.3)
    f2: float = Field(default=1.222, ge=1.0)
    window_width: int = Field(default=8, ge=1)
    pulse_time: float = 15.0
    pulse_sigma: float = Field(default=1.0, gt=0)
    time_offset_spread: float = Field(default=0.5, ge=0)
    trigger_jitter: float = Field(default=0.3, ge=0)
    time_noise: float = Field(default=0.3, ge=0)
    dead: list[int] = []
    hot: list[int] = []
    noisy: list[int] = []
    nan_pixels: list[int] = []
    hot_pedestal_factor: float = Field(default=1.5, gt=0)
    noisy_noise_factor: float = Field(default=4.0, gt=0)
    event_rate_hz: float = Field(default=100.0, gt=0)
    waveform_dtype: Literal["int16", "int32", "float32"] = "int16"
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> CameraModel:
        for name in ("gain_dc_per_pe", "pedestal_per_sample", "noise_per_sample"):
            if len(getattr(self, name)) != self.n_gains:
                raise ValueError(f"{name} needs one value per gain ({self.n_gains})")
        for name in ("dead", "hot", "noisy", "nan_pixels"):
            if any(not 0 <= i < self.n_pixels for i in getattr(self, name)):
                raise ValueError(f"{name} holds a pixel index outside 0..{self.n_pixels - 1}")
        if not 0 <= self.pulse_time < self.n_samples:
            raise ValueError("pulse_time must lie inside the trace")
        return self


@dataclass(frozen=True)
class Truth:
    """The simulated camera. Per (gain, pixel): `gain` (DC per p.e. of the full pulse),
    `pedestal_per_sample`, `noise_per_sample`, `pedestal_charge` and `pedestal_std` (over
    `window_width` samples), `signal` (= gain x n_pe_mean); per pixel: `n_pe_mean`,
    `time_offset` (samples); the injected pixel lists and `bad` (their union)."""

    gain: np.ndarray
    pedestal_per_sample: np.ndarray
    noise_per_sample: np.ndarray
    pedestal_charge: np.ndarray
    pedestal_std: np.ndarray
    signal: np.ndarray
    n_pe_mean: np.ndarray
    time_offset: np.ndarray
    dead: np.ndarray
    hot: np.ndarray
    noisy: np.ndarray
    nan_pixels: np.ndarray
    bad: np.ndarray
    window_width: int
    f2: float


def camera_truth(model: CameraModel | dict | None = None) -> Truth:
    """The camera a model describes (drawn from `model.seed`)."""
    m = CameraModel.model_validate(model or {})
    rng = np.random.default_rng(m.seed)
    shape = (m.n_gains, m.n_pixels)
    gain = np.asarray(m.gain_dc_per_pe)[:, None] * (1 + m.gain_spread * rng.standard_normal(shape))
    ped = np.asarray(m.pedestal_per_sample)[:, None] * (
        1 + m.pedestal_spread * rng.standard_normal(shape)
    )
    noise = np.asarray(m.noise_per_sample)[:, None] * np.abs(
        1 + m.noise_spread * rng.standard_normal(shape)
    )
    n_pe = m.mu * (1 + m.illumination_spread * rng.standard_normal(m.n_pixels))
    offset = m.time_offset_spread * rng.standard_normal(m.n_pixels)
    dead, hot, noisy, nan = (
        np.unique(np.asarray(v, dtype=np.intp)) for v in (m.dead, m.hot, m.noisy, m.nan_pixels)
    )
    n_pe[dead] = 0.0
    ped[:, hot] *= m.hot_pedestal_factor
    noise[:, noisy] *= m.noisy_noise_factor
    bad = np.zeros(m.n_pixels, dtype=bool)
    bad[np.concatenate([dead, hot, noisy, nan])] = True
    w = m.window_width
    return Truth(
        gain=gain,
        pedestal_per_sample=ped,
        noise_per_sample=noise,
        pedestal_charge=w * ped,
        pedestal_std=np.sqrt(w) * noise,
        signal=gain * n_pe,
        n_pe_mean=n_pe,
        time_offset=offset,
        dead=dead,
        hot=hot,
        noisy=noisy,
        nan_pixels=nan,
        bad=bad,
        window_width=w,
        f2=m.f2,
    )


def _pulse(t: np.ndarray, n_samples: int, sigma: float) -> np.ndarray:
    """Gaussian pulses centred at `t` (any shape), sampled at 0..n_samples-1, summing to 1."""
    p = np.exp(-0.5 * ((np.arange(n_samples) - t[..., None]) / sigma) ** 2)
    return p / p.sum(axis=-1, keepdims=True)


def contained_fraction(
    model: CameraModel | dict, window_start: int, window_width: int, n_draws: int = 2000
) -> np.ndarray:
    """Mean fraction of each pixel's pulse inside [window_start, window_start + width), averaged
    over the trigger jitter (waveform mode, fixed window)."""
    m = CameraModel.model_validate(model)
    truth = camera_truth(m)
    jitter = m.trigger_jitter * np.random.default_rng(1).standard_normal(n_draws)
    frac = np.empty(m.n_pixels)
    for i, off in enumerate(truth.time_offset):
        p = _pulse(m.pulse_time + off + jitter, m.n_samples, m.pulse_sigma)
        frac[i] = p[:, window_start : window_start + window_width].sum(axis=-1).mean()
    return frac


def simulate_run(
    path: str | os.PathLike,
    run_type: Literal["PEDESTAL", "FLATFIELD"],
    n_events: int,
    model: CameraModel | dict | None = None,
    mode: Literal["image", "waveform"] = "image",
    *,
    tel_id: int = 1,
    obs_id: int = 1,
    start_mjd: float = 60000.0,
    seed: int = 0,
    chunk_size: int | None = None,
    bar: Progress | None = None,
) -> Truth:
    """Write a synthetic run file and return the camera truth it was drawn from (`bar`
    counts the events written)."""
    if run_type not in RUN_TYPES:
        raise ValueError(f"run_type must be one of {RUN_TYPES}")
    m = CameraModel.model_validate(model or {})
    if mode == "waveform" and m.nan_pixels and m.waveform_dtype != "float32":
        raise ValueError("NaN pixels in waveform mode need waveform_dtype float32")
    truth = camera_truth(m)
    rng = np.random.default_rng([seed, RUN_TYPES.index(run_type)])
    g_shape = (m.n_gains, m.n_pixels)
    if chunk_size is None:
        per_event = m.n_gains * m.n_pixels * (m.n_samples if mode == "waveform" else 1) * 8
        chunk_size = max(1, min(n_events, 50_000_000 // per_event))
    flat = run_type == "FLATFIELD"
    v = m.f2 - 1.0
    with RunWriter(
        path,
        tel_id=tel_id,
        obs_id=obs_id,
        run_type=run_type,
        n_events=n_events,
        n_gains=m.n_gains,
        n_pixels=m.n_pixels,
        mode=mode,
        n_samples=m.n_samples if mode == "waveform" else None,
        waveform_dtype=m.waveform_dtype,
        window_width=m.window_width if mode == "image" else None,
    ) as writer:
        for lo in range(0, n_events, chunk_size):
            n = min(chunk_size, n_events - lo)
            if bar is not None:
                bar.advance(n)
            amplitude = np.zeros((n, m.n_pixels))
            if flat:
                n_pe = rng.poisson(truth.n_pe_mean, (n, m.n_pixels))
                amplitude = rng.gamma(n_pe / v, v) if v > 0 else n_pe.astype(np.float64)
            light = truth.gain[None] * amplitude[:, None, :]  # (n, gains, pixels)
            t = m.pulse_time + truth.time_offset + m.trigger_jitter * rng.standard_normal((n, 1))
            ids = np.arange(lo, lo + n)
            times = start_mjd + ids / m.event_rate_hz / 86400.0
            types = np.full(n, EVENT_TYPE_CODES[run_type])
            if mode == "image":
                noise = rng.standard_normal((n, *g_shape)) * truth.pedestal_std
                image = light + truth.pedestal_charge + noise
                if flat:
                    peak = t[:, None, :] + m.time_noise * rng.standard_normal((n, *g_shape))
                else:
                    peak = rng.uniform(0, m.window_width, (n, *g_shape))
                image[:, :, truth.nan_pixels] = np.nan
                peak[:, :, truth.nan_pixels] = np.nan
                writer.write(ids, times, types, images=image, peak_times=peak)
                continue
            wf = rng.standard_normal((n, *g_shape, m.n_samples))
            wf *= truth.noise_per_sample[..., None]
            wf += truth.pedestal_per_sample[..., None]
            if flat:
                wf += light[..., None] * _pulse(t, m.n_samples, m.pulse_sigma)[:, None]
            if m.waveform_dtype != "float32":
                info = np.iinfo(m.waveform_dtype)
                wf = np.clip(np.rint(wf), info.min, info.max)
            wf[:, :, truth.nan_pixels] = np.nan
            writer.write(ids, times, types, waveforms=wf)
    return truth
