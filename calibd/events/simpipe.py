"""Events sent by SimPipe (the simulation pipeline). Sender: SimPipe. Receiver: calibd."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from calibd.events.channels import SIMPIPE_PRODUCTIONS, Receive
from calibd.events.common import DataFile, StrictModel
from calibd.events.envelope import CloudEvent

__all__ = ["ProductionEvent", "SimulatedFile", "SimulationProduction"]


class SimulatedFile(DataFile):
    """A DL2 file of simulated events with its simulated-spectrum metadata."""

    particle: Literal["gamma", "proton", "electron"]
    n_showers: int = Field(gt=0)
    energy_min_tev: float = Field(gt=0)
    energy_max_tev: float = Field(gt=0)
    spectral_index: float = Field(lt=0, description="Simulated power-law index, e.g. -2.0")
    max_impact_m: float = Field(gt=0)
    viewcone_deg: float = Field(ge=0, le=20)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must exceed energy_min_tev")
        return self


class SimulationProduction(StrictModel):
    """A finished simulation production to turn into IRFs."""

    production_id: str = Field(min_length=1, max_length=200)
    site: Literal["CTAO-North", "CTAO-South"]
    zenith_deg: float = Field(ge=0, lt=90)
    azimuth_deg: float = Field(default=0.0, ge=0, lt=360)
    files: list[SimulatedFile] = Field(min_length=1, max_length=10_000)


class ProductionEvent(CloudEvent):
    """A new simulation production. SimPipe -> calibd; yields Cat-B IRFs."""

    type: Literal["ctao.simpipe.production"] = "ctao.simpipe.production"
    channel: ClassVar[Receive] = SIMPIPE_PRODUCTIONS
    data: SimulationProduction
