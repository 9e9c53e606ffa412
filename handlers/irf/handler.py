"""`ctao.simpipe.production` -> an `irf` product (Cat-B by default), and the `dl2` simulator
and demo input (GADF export: `export`)."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyirf
from calibd.handlers.irf.compute import IrfConfig, SimulatedFileSpec, compute_irfs

from calibd.handler_api import (
    HandlerResult,
    ProductDraft,
    ProductionEvent,
    demo_input,
    handler,
    progress,
    simulator,
)

__all__ = ["production"]


@handler(
    "ctao.simpipe.production",
    name="irf",
    config=IrfConfig,
    algorithm="pyirf-point-like-irfs",
    version=f"1+pyirf-{pyirf.__version__}",
)
async def production(event: ProductionEvent, ctx) -> HandlerResult:
    """IRFs of a production. Valid from the production's time onward for the observations
    its simulation describes (site, zenith, azimuth are in the payload)."""
    specs = []
    for f in event.data.files:
        path = await ctx.resolve_file(f)
        specs.append(
            SimulatedFileSpec(
                path=str(path),
                particle=f.particle,
                n_showers=f.n_showers,
                energy_min_tev=f.energy_min_tev,
                energy_max_tev=f.energy_max_tev,
                spectral_index=f.spectral_index,
                max_impact_m=f.max_impact_m,
                viewcone_deg=f.viewcone_deg,
            )
        )
    result = await ctx.run_cpu(compute_irfs, specs, ctx.config.model_dump())
    data = event.data
    product = ProductDraft(
        product_type="irf",
        valid_from=event.time or datetime.now(UTC),
        payload={
            "production_id": data.production_id,
            "site": data.site,
            "zenith_deg": data.zenith_deg,
            "azimuth_deg": data.azimuth_deg,
            "point_like": True,
            "theta_cut_deg": ctx.config.theta_cut_deg,
            "gh_cut": ctx.config.gh_cut,
            "pyirf": pyirf.__version__,
            **result["summary"],
        },
        arrays=result["arrays"],
        summary={"production_id": data.production_id, **result["summary"]},
    )
    return HandlerResult(products=[product])


def production_envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "ctao.simpipe/synthetic",
        "type": "ctao.simpipe.production",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


@simulator("dl2", help="write a synthetic simulation production with a known effective area")
def dl2(parser: argparse.ArgumentParser):
    parser.add_argument("--out", type=Path, required=True, help="directory for the DL2 files")
    parser.add_argument("--gammas", type=int, default=1_000_000, help="gamma showers thrown")
    parser.add_argument("--protons", type=int, default=1_000_000, help="proton showers thrown")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=["fits", "ecsv"], default="fits")

    def run(args: argparse.Namespace) -> int:
        from calibd.handlers.irf.simulate import simulate_production

        with progress("simulate dl2", unit="showers") as bar:
            data = simulate_production(
                args.out, args.gammas, args.protons, args.seed, fmt=args.format, bar=bar
            )
        print(json.dumps(production_envelope(data)))  # a line for `calibd replay`
        return 0

    return run


@demo_input
def demo_production(workdir: Path) -> list[dict[str, Any]]:
    from calibd.handlers.irf.simulate import simulate_production

    return [production_envelope(simulate_production(workdir / "simpipe", 300_000, 300_000))]
