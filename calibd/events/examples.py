"""One example envelope per event type; exported to schemas/examples/ and validated by tests."""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES"]

_ACADA = "ctao.acada/array-control"
_CALIBD = "ctao.calibpipe/calibd-north-01"
_PID = "0193a1c2-7f00-7abc-8def-0123456789ab"


def _env(type_: str, id_: str, source: str, data: dict[str, Any], subject: str | None = None):
    env = {
        "specversion": "1.0",
        "id": id_,
        "source": source,
        "type": type_,
        "time": "2026-11-24T22:15:03Z",
        "datacontenttype": "application/json",
        "data": data,
    }
    if subject:
        env["subject"] = subject
    return env


_RUN = {
    "tel_id": 1,
    "obs_id": 2000000200,
    "sb_id": 2000000066,
    "run_start": "2026-11-24T21:03:00Z",
    "run_end": "2026-11-24T21:05:00Z",
    "files": [
        {
            "uri": "dl0/LST-1/events/2026/11/24/TEL001_SDH0000_20261124T210300_SBID0000000002"
            "_OBSID0000000200_TEL_CAL_CHUNK000.fits.fz",
            "sha256": "9f2c5a4a3c1b0e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
        }
    ],
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "ctao.acada.pedestal_run": _env(
        "ctao.acada.pedestal_run", "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e01", _ACADA, _RUN
    ),
    "ctao.acada.flatfield_run": _env(
        "ctao.acada.flatfield_run",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e02",
        _ACADA,
        {**_RUN, "run_start": "2026-11-24T21:06:00Z", "run_end": "2026-11-24T21:08:00Z"},
    ),
    "ctao.acada.fram_data": _env(
        "ctao.acada.fram_data",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e03",
        "ctao.acada/fram",
        {
            "period_start": "2026-11-24T20:00:00Z",
            "period_end": "2026-11-24T22:00:00Z",
            "site": "CTAO-North",
            "measurements": [
                {
                    "timestamp": f"2026-11-24T{hh}:{mm}:00Z",
                    "ra_deg": 350.0,
                    "dec_deg": dec,
                    "aod": aod,
                    "aod_err": 0.004,
                    "peak_wavelength_nm": 550.0,
                    "img_id": i + 1,
                    "observation_id": 2000000200,
                }
                for i, (hh, mm, dec, aod) in enumerate(
                    [
                        ("20", "10", 28.0, 0.036),
                        ("20", "40", 45.0, 0.041),
                        ("21", "10", 28.0, 0.034),
                        ("21", "40", 45.0, 0.039),
                    ]
                )
            ],
        },
    ),
    "ctao.acada.fram_down": _env(
        "ctao.acada.fram_down",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e04",
        "ctao.acada/soss",
        {
            "period_start": "2026-11-24T20:00:00Z",
            "period_end": "2026-11-25T06:00:00Z",
            "site": "CTAO-North",
            "reason": "FRAM dome does not open",
            "reported_by": "SOSS",
        },
    ),
    "ctao.acada.trigger_rates": _env(
        "ctao.acada.trigger_rates",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e05",
        "ctao.acada/array-trigger",
        {
            "interval_start": "2026-11-24T21:00:00Z",
            "interval_end": "2026-11-24T21:10:00Z",
            "telescopes": [
                {
                    "tel_id": t,
                    "rate_hz": 5000.0 + 50 * t,
                    "muon_efficiency": 0.21,
                    "gain_factor": 1.0,
                    "zenith_deg": 20.0,
                }
                for t in (1, 2, 3, 4)
            ],
        },
    ),
    "ctao.acada.calibration_stream_file": _env(
        "ctao.acada.calibration_stream_file",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e0a",
        "ctao.acada/dl0-triggers",
        {
            "tel_id": 1,
            "sb_id": 2000000066,
            "obs_id": 2000000200,
            "stream": "SDH000",
            "chunk_id": 0,
            "data_level": "DL0",
            "block_start": "2026-11-24T21:03:00Z",
            "obs_night": "2026-11-24",
            "file": {
                "uri": "dl0/LSTN-01/events/2026/11/24/TEL001_SDH000_20261124T210300"
                "_SBID2000000066_OBSID2000000200_TEL_CAL_CHUNK000.fits.fz"
            },
        },
        subject="TEL001_SDH000_20261124T210300_SBID2000000066_OBSID2000000200_TEL_CAL_CHUNK000.fits.fz",
    ),
    "ctao.acada.muon_data": _env(
        "ctao.acada.muon_data",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e06",
        _ACADA,
        {
            "tel_id": 1,
            "obs_id": 2000000200,
            "rings": [
                {
                    "time": "2026-11-24T21:00:01Z",
                    "optical_efficiency": 0.21,
                    "impact_m": 3.2,
                    "fit_valid": True,
                },
                {
                    "time": "2026-11-24T21:00:02Z",
                    "optical_efficiency": 0.20,
                    "impact_m": 5.9,
                    "fit_valid": True,
                },
            ],
        },
    ),
    "ctao.acada.weather": _env(
        "ctao.acada.weather",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e07",
        "ctao.acada/weather-station",
        {
            "time": "2026-11-24T21:00:00Z",
            "site": "CTAO-North",
            "ground": {
                "altitude_m": 2200.0,
                "pressure_hpa": 787.0,
                "temperature_k": 281.0,
                "relative_humidity_pct": 35.0,
            },
        },
    ),
    "ctao.simpipe.production": _env(
        "ctao.simpipe.production",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e08",
        "ctao.simpipe/production-manager",
        {
            "production_id": "prod6-north-20deg",
            "site": "CTAO-North",
            "zenith_deg": 20.0,
            "azimuth_deg": 180.0,
            "files": [
                {
                    "uri": "simpipe/prod6/gamma_dl2.fits",
                    "particle": "gamma",
                    "n_showers": 2000000,
                    "energy_min_tev": 0.01,
                    "energy_max_tev": 100.0,
                    "spectral_index": -2.0,
                    "max_impact_m": 1000.0,
                    "viewcone_deg": 0.0,
                },
                {
                    "uri": "simpipe/prod6/proton_dl2.fits",
                    "particle": "proton",
                    "n_showers": 5000000,
                    "energy_min_tev": 0.01,
                    "energy_max_tev": 200.0,
                    "spectral_index": -2.0,
                    "max_impact_m": 1500.0,
                    "viewcone_deg": 10.0,
                },
            ],
        },
    ),
    "ctao.qualpipe.assessment": _env(
        "ctao.qualpipe.assessment",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e09",
        "ctao.qualpipe/assessor",
        {
            "request_id": "5b0e9a1c-2d3e-4f50-8a9b-0c1d2e3f4a5b",
            "product_id": _PID,
            "verdict": "acceptable",
            "comment": "extinction within the seasonal envelope",
        },
    ),
    "ctao.calibpipe.reprocess_request": _env(
        "ctao.calibpipe.reprocess_request",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e10",
        "ctao.soss/operator",
        {
            "time_start": "2026-11-01T12:00:00Z",
            "time_end": "2026-11-08T12:00:00Z",
            "product_types": ["camera_calibration"],
            "tel_ids": [1],
            "requested_by": "calibration scientist on duty",
            "reason": "final Cat-C processing of the November dark period",
        },
    ),
    "ctao.calibpipe.config_change": _env(
        "ctao.calibpipe.config_change",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e11",
        "ctao.soss/operator",
        {
            "changes": [
                {"key": "handlers.camera_flatfield.ffactor.max_faulty_fraction", "value": 0.08}
            ],
            "requested_by": "calibration scientist on duty",
            "reason": "tighter validity for the new camera firmware",
        },
    ),
    "ctao.calibpipe.calibration_ready": _env(
        "ctao.calibpipe.calibration_ready",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e12",
        _CALIBD,
        {
            "product_id": _PID,
            "product_type": "camera_calibration",
            "tel_id": 1,
            "category": "B",
            "valid_from": "2026-11-24T21:06:00Z",
            "algorithm": "excess-noise-factor",
            "algorithm_version": "1",
            "config_hash": "3b5d9c1e0a7f4e2b8c6d1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d",
            "input_event_id": "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e02",
            "summary": {"faulty_pixel_fraction": 0.004, "median_gain": 0.0123},
        },
        subject=_PID,
    ),
    "ctao.calibpipe.quality_request": _env(
        "ctao.calibpipe.quality_request",
        "5b0e9a1c-2d3e-4f50-8a9b-0c1d2e3f4a5b",
        _CALIBD,
        {
            "product_id": _PID,
            "product_type": "atmospheric_extinction",
            "reason": "FRAM down: extinction from the Cherenkov transparency coefficient",
            "metrics": {"aod_550nm": 0.05, "aod_uncertainty": 0.02},
            "respond_by": "2026-11-25T08:00:00Z",
        },
        subject=_PID,
    ),
    "ctao.calibpipe.report": _env(
        "ctao.calibpipe.report",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e14",
        _CALIBD,
        {
            "report_type": "fram_down",
            "title": "FRAM data missing: extinction from the Cherenkov transparency coefficient",
            "period_start": "2026-11-24T20:00:00Z",
            "period_end": "2026-11-25T06:00:00Z",
            "product_ids": [_PID],
            "details": {"method": "cherenkov_transparency", "qualpipe_verdict": "acceptable"},
        },
    ),
    "ctao.calibpipe.dead_letter": _env(
        "ctao.calibpipe.dead_letter",
        "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e15",
        _CALIBD,
        {
            "dead_letter_id": 17,
            "reason": "schema_violation",
            "detail": "data.tel_id: Input should be greater than or equal to 1",
            "transport": "kafka",
            "origin": "kafka acada.calibration[0]@1532",
            "event_id": "6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e99",
            "event_type": "ctao.acada.pedestal_run",
            "payload": '{"specversion":"1.0","id":"6d7f1c1e-3b1a-4c55-9b1e-0a1b2c3d4e99"}',
            "payload_encoding": "utf-8",
            "payload_bytes": 65,
            "payload_truncated": False,
        },
        subject="17",
    ),
}
