"""Events sent by ACADA (array control and data acquisition) to CalibPipe.

Sender: ACADA on site (or calibd's own ACADA trigger-file watcher). Receiver: calibd.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from calibd.events.channels import ACADA_CALIBRATION, ACADA_MONITORING, Receive
from calibd.events.common import DataFile, StrictModel, TelId, UtcTime, check_order
from calibd.events.envelope import CloudEvent

__all__ = [
    "CalibrationRun",
    "CalibrationStreamFile",
    "CalibrationStreamFileEvent",
    "FlatFieldRunEvent",
    "FramData",
    "FramDataEvent",
    "FramDown",
    "FramDownEvent",
    "FramMeasurement",
    "GroundWeather",
    "MuonData",
    "MuonDataEvent",
    "MuonRing",
    "PedestalRunEvent",
    "ProfileLevel",
    "TelescopeRate",
    "TriggerRates",
    "TriggerRatesEvent",
    "Weather",
    "WeatherEvent",
]


class CalibrationRun(StrictModel):
    """A pedestal or flat-field run of one telescope: its files and time span."""

    tel_id: TelId
    obs_id: int = Field(ge=0)
    sb_id: int | None = Field(default=None, ge=0, description="Scheduling block id")
    run_start: UtcTime
    run_end: UtcTime | None = Field(
        default=None, description="End of the run; unknown when the run came from a trigger file"
    )
    files: list[DataFile] = Field(min_length=1, max_length=1000)
    chunk_id: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _span(self) -> Self:
        check_order(self, "run_start", "run_end", allow_equal=True)
        return self


class PedestalRunEvent(CloudEvent):
    """A pedestal run is complete. ACADA -> calibd; yields the camera pedestal product."""

    type: Literal["ctao.acada.pedestal_run"] = "ctao.acada.pedestal_run"
    channel: ClassVar[Receive] = ACADA_CALIBRATION
    data: CalibrationRun


class FlatFieldRunEvent(CloudEvent):
    """A flat-field run is complete. ACADA -> calibd; paired with a pedestal it yields the
    camera calibration coefficients."""

    type: Literal["ctao.acada.flatfield_run"] = "ctao.acada.flatfield_run"
    channel: ClassVar[Receive] = ACADA_CALIBRATION
    data: CalibrationRun


class CalibrationStreamFile(StrictModel):
    """One closed file of a telescope's interleaved calibration events (an ACADA DL0 or R1
    `CAL` file: pedestal and flat-field events in one stream). A telescope writes several
    parallel streams per observation block, each in chunks; calibd groups them by
    (tel_id, sb_id, obs_id)."""

    tel_id: TelId
    sb_id: int = Field(ge=0, description="Scheduling block id")
    obs_id: int = Field(ge=0, description="Observation block id")
    stream: str = Field(
        pattern=r"^[A-Za-z0-9]{1,32}$", description="The writer stream, e.g. SDH000"
    )
    chunk_id: int = Field(ge=0, le=1_000_000)
    data_level: Literal["DL0", "R1"]
    block_start: UtcTime = Field(description="Start of the observation block (file name)")
    obs_night: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="OBSNIGHT of the file"
    )
    file: DataFile


class CalibrationStreamFileEvent(CloudEvent):
    """A calibration-event stream file is closed (an ACADA trigger file). ACADA -> calibd;
    the files of an observation block yield its camera calibration time series."""

    type: Literal["ctao.acada.calibration_stream_file"] = "ctao.acada.calibration_stream_file"
    channel: ClassVar[Receive] = ACADA_CALIBRATION
    data: CalibrationStreamFile


class FramMeasurement(StrictModel):
    """One FRAM image's aerosol optical depth along its line of sight."""

    timestamp: UtcTime
    ra_deg: float = Field(ge=0, lt=360)
    dec_deg: float = Field(ge=-90, le=90)
    aod: float = Field(ge=0, allow_inf_nan=False)
    aod_err: float = Field(gt=0, allow_inf_nan=False)
    peak_wavelength_nm: float = Field(gt=0, allow_inf_nan=False)
    zero_point: float | None = None
    img_id: int | None = None
    observation_id: int | None = None


class FramData(StrictModel):
    """FRAM measurements for a period, inline or as ACADA DL0 monitoring FITS files."""

    period_start: UtcTime
    period_end: UtcTime
    site: Literal["CTAO-North", "CTAO-South"] | None = None
    measurements: list[FramMeasurement] | None = Field(default=None, max_length=100_000)
    files: list[DataFile] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _has_input(self) -> Self:
        if not self.measurements and not self.files:
            raise ValueError("either measurements or files must be given")
        check_order(self, "period_start", "period_end")
        return self


class FramDataEvent(CloudEvent):
    """FRAM aerosol measurements. ACADA -> calibd; yields the aerosol calibration."""

    type: Literal["ctao.acada.fram_data"] = "ctao.acada.fram_data"
    channel: ClassVar[Receive] = ACADA_MONITORING
    data: FramData


class FramDown(StrictModel):
    """FRAM is not delivering data for a period (the seed's "FRAM down" scenario)."""

    period_start: UtcTime
    period_end: UtcTime
    site: Literal["CTAO-North", "CTAO-South"] | None = None
    reason: str | None = Field(default=None, max_length=2000)
    reported_by: str | None = Field(default=None, description="e.g. SOSS, ACADA")

    @model_validator(mode="after")
    def _span(self) -> Self:
        check_order(self, "period_start", "period_end")
        return self


class FramDownEvent(CloudEvent):
    """FRAM data are missing. ACADA/SOSS -> calibd; runs the alternative extinction procedure."""

    type: Literal["ctao.acada.fram_down"] = "ctao.acada.fram_down"
    channel: ClassVar[Receive] = ACADA_MONITORING
    data: FramDown


class TelescopeRate(StrictModel):
    """Cosmic-ray trigger rate of one telescope with its muon efficiency and gain factor."""

    tel_id: TelId
    rate_hz: float = Field(gt=0, le=1e6, allow_inf_nan=False, description="At most 1 MHz")
    muon_efficiency: float = Field(gt=0, le=1, allow_inf_nan=False, description="A fraction")
    gain_factor: float = Field(gt=0, le=100, allow_inf_nan=False)
    zenith_deg: float | None = Field(default=None, ge=0, lt=90)


class TriggerRates(StrictModel):
    """Per-telescope trigger rates over one interval."""

    interval_start: UtcTime
    interval_end: UtcTime
    telescopes: list[TelescopeRate] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _span(self) -> Self:
        check_order(self, "interval_start", "interval_end")
        return self


class TriggerRatesEvent(CloudEvent):
    """Trigger rates. ACADA -> calibd; yields the Cherenkov transparency coefficient and the
    relative optical throughput."""

    type: Literal["ctao.acada.trigger_rates"] = "ctao.acada.trigger_rates"
    channel: ClassVar[Receive] = ACADA_MONITORING
    data: TriggerRates


class MuonRing(StrictModel):
    """Ring parameters of one muon."""

    time: UtcTime
    optical_efficiency: float = Field(allow_inf_nan=False)
    impact_m: float = Field(ge=0, allow_inf_nan=False)
    fit_valid: bool
    at_limit: bool = False


class MuonData(StrictModel):
    """Muon ring parameters of one telescope, inline or as FITS tables."""

    tel_id: TelId
    obs_id: int = Field(ge=0)
    rings: list[MuonRing] | None = Field(default=None, max_length=1_000_000)
    files: list[DataFile] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _has_input(self) -> Self:
        if not self.rings and not self.files:
            raise ValueError("either rings or files must be given")
        return self


class MuonDataEvent(CloudEvent):
    """Muon data. ACADA -> calibd; yields the telescope optical throughput."""

    type: Literal["ctao.acada.muon_data"] = "ctao.acada.muon_data"
    channel: ClassVar[Receive] = ACADA_CALIBRATION
    data: MuonData


class ProfileLevel(StrictModel):
    """One level of a vertical atmospheric profile."""

    altitude_m: float = Field(allow_inf_nan=False)
    pressure_hpa: float = Field(gt=0, allow_inf_nan=False)
    temperature_k: float = Field(gt=0, allow_inf_nan=False)
    relative_humidity_pct: float = Field(default=0.0, ge=0, le=100)


class GroundWeather(ProfileLevel):
    """A weather-station reading at the site, extended with a reference atmosphere."""


class Weather(StrictModel):
    """A vertical profile or a ground reading."""

    time: UtcTime
    site: Literal["CTAO-North", "CTAO-South"] | None = None
    profile: list[ProfileLevel] | None = Field(default=None, min_length=2, max_length=10_000)
    ground: GroundWeather | None = None

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.profile is None) == (self.ground is None):
            raise ValueError("exactly one of profile or ground must be given")
        return self


class WeatherEvent(CloudEvent):
    """Weather data. ACADA -> calibd; yields molecular density and Rayleigh extinction."""

    type: Literal["ctao.acada.weather"] = "ctao.acada.weather"
    channel: ClassVar[Receive] = ACADA_MONITORING
    data: Weather
