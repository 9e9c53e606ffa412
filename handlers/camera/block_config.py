"""The settings of the camera_block computation (`handlers.camera_block.block.*`)."""

from __future__ import annotations

from typing import Annotated

from calibd.handlers.camera.extract import ExtractorConfig
from calibd.handlers.camera.ffactor import FFactorConfig
from calibd.handlers.camera.series import SeriesConfig
from calibd.handlers.camera.stats import StatsConfig
from pydantic import BaseModel, Field

__all__ = ["KINDS", "BlockConfig"]

KINDS = ("pedestal", "flatfield")
"""The two kinds of calibration events of a block, each integrated by its own extractor."""

#: an ACADA event type code (FLATFIELD 0, PEDESTAL 2, DARK/ELECTRONIC/SKY_PEDESTAL 3/4/5, ...)
EventType = Annotated[int, Field(ge=0, le=255)]


def _extractor(width: int = 12, shift: int = 4, name: str = "global_peak_window"):
    return lambda: ExtractorConfig(name=name, window_width=width, shift=shift)


class BlockConfig(BaseModel):
    series: SeriesConfig = Field(default_factory=SeriesConfig)
    pedestal_event_types: list[EventType] = Field(default=[2, 5], min_length=1, max_length=16)
    flatfield_event_types: list[EventType] = Field(default=[0], min_length=1, max_length=16)
    pedestal_extractor: ExtractorConfig = Field(default_factory=_extractor())
    flatfield_extractor: ExtractorConfig = Field(
        default_factory=_extractor(name="local_peak_window")
    )
    stats: StatsConfig = Field(default_factory=StatsConfig)
    ffactor: FFactorConfig = Field(default_factory=FFactorConfig)
    sampling_frequency_mhz: float = Field(
        default=1024.0, gt=0, le=100_000, description="LSTCam's, as ctapipe-io-zfits describes it"
    )
    read_batch: int = Field(default=32, ge=1, le=100_000)
    gain_switch_tolerance: float = Field(
        default=0.001,
        ge=0,
        le=0.5,
        description="gain-selected data: the share of a pixel's flat-field events in a chunk "
        "that may be in its other gain before it is flagged GAIN_MIXED (unusable)",
    )
