"""Muon rings from ctapipe DL1 HDF5 files, written by ctapipe 0.28's own table writer with its
containers (the layout `ctapipe-process --DataWriter.write_muon_parameters=True` produces)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from calibd.handlers.muon_throughput.reader import read_muon_file
from ctapipe.containers import (
    MuonEfficiencyContainer,
    MuonParametersContainer,
    MuonRingContainer,
    TelescopeTriggerContainer,
    TelEventIndexContainer,
)
from ctapipe.io import HDF5TableWriter

from calibd.errors import BadInput
from calibd.testing import raw_message, running_pipeline
from tests.conftest import example
from tests.unit.muon_throughput.test_muon import TRUE_EFFICIENCY, synthetic_rings

START = Time("2026-11-24T21:00:00", scale="utc")


def write_dl1(path, rings: dict[str, np.ndarray], tel_id: int = 1, trigger=True) -> Time:
    """DL1 muon and trigger tables of `rings` for `tel_id` (and a second telescope's ring);
    returns the trigger times written (TAI, as ctapipe stores them)."""
    n = len(rings["efficiency"])
    times = START.tai + np.arange(n) * 2.5 * u.s
    with HDF5TableWriter(str(path), mode="w", add_prefix=True) as writer:
        for i in range(n):
            index = TelEventIndexContainer(obs_id=7, event_id=100 + i, tel_id=tel_id)
            if trigger:
                writer.write(
                    "dl1/event/telescope/trigger",
                    [index, TelescopeTriggerContainer(time=times[i], n_trigger_pixels=1)],
                )
            efficiency = MuonEfficiencyContainer(
                width=0.05 * u.deg,
                impact=rings["impact_m"][i] * 100 * u.cm,  # a unit other than m
                impact_x=0 * u.m,
                impact_y=0 * u.m,
                optical_efficiency=rings["efficiency"][i],
                is_valid=bool(rings["fit_valid"][i]),
                parameters_at_limit=bool(rings["at_limit"][i]),
                likelihood_value=1.0,
            )
            ring = MuonRingContainer(radius=1.1 * u.deg)
            parameters = MuonParametersContainer(containment=1.0, completeness=0.9)
            writer.write(
                f"dl1/event/telescope/muon/tel_{tel_id:03d}",
                [index, ring, parameters, efficiency],
            )
        other = TelEventIndexContainer(obs_id=7, event_id=1, tel_id=tel_id + 1)
        writer.write(
            f"dl1/event/telescope/muon/tel_{tel_id + 1:03d}",
            [other, MuonRingContainer(), MuonParametersContainer(), MuonEfficiencyContainer()],
        )
    return times


def test_a_ctapipe_dl1_file_gives_the_rings_of_its_telescope_with_times(tmp_path):
    rings = synthetic_rings(300)
    path = tmp_path / "dl1_muons.h5"
    times = write_dl1(path, rings)
    got = read_muon_file(str(path), tel_id=1)
    np.testing.assert_allclose(got["time_mjd"], times.utc.mjd, rtol=0, atol=1e-9 / 86400 * 1e3)
    assert got["time_mjd"][0] == pytest.approx(START.mjd, abs=1e-6 / 86400)  # TAI -> UTC
    np.testing.assert_allclose(got["impact_m"], rings["impact_m"], rtol=1e-12)  # from cm
    np.testing.assert_array_equal(got["efficiency"], rings["efficiency"])
    np.testing.assert_array_equal(got["fit_valid"], rings["fit_valid"])
    np.testing.assert_array_equal(got["at_limit"], rings["at_limit"])
    with pytest.raises(BadInput, match=r"no muon table .*tel_005 \(tables: tel_001, tel_002\)"):
        read_muon_file(str(path), tel_id=5)


def test_rings_without_trigger_times_and_broken_files_are_refused(tmp_path):
    rings = synthetic_rings(20)
    untimed = tmp_path / "untimed.h5"
    write_dl1(untimed, rings, trigger=False)
    with pytest.raises(BadInput, match="untimed.h5: no trigger table"):
        read_muon_file(str(untimed), tel_id=1)
    cut = tmp_path / "cut.h5"
    write_dl1(cut, rings)
    cut.write_bytes(cut.read_bytes()[:3000])
    with pytest.raises(BadInput, match="cut.h5: "):
        read_muon_file(str(cut), tel_id=1)


async def test_a_dl1_file_through_the_pipeline_makes_the_throughput_product(tmp_path):
    path = tmp_path / "dl1_muons.h5"
    write_dl1(path, synthetic_rings())
    async with running_pipeline(tmp_path) as h:
        message = example("ctao.acada.muon_data", rings=None, files=[{"uri": str(path)}])
        outcome = await h.pipeline.process(raw_message(message))
        assert outcome.status == "done", outcome.reason
        product = await h.store.product(outcome.product_ids[0])
    assert product["summary"]["mean_optical_throughput"] == pytest.approx(TRUE_EFFICIENCY, rel=0.01)
    assert product["tel_id"] == 1 and product["summary"]["n_input"] == 2300
