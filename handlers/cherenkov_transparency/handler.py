"""`ctao.acada.trigger_rates` -> `cherenkov_transparency`: the array's Cherenkov Transparency
Coefficient for the interval and each telescope's relative optical throughput, with their
uncertainties; flagged `too_few_telescopes` below `min_telescopes` (see `transparency`).
The FRAM-down fallback chain of the aerosol family uses this product (method `ctc`).

Settings: `handlers.cherenkov_transparency.*`; `handlers.transparency.*` (the handler's former
name) still works, deprecated: mapped to the new key with a "deprecated config key" warning.
"""

from __future__ import annotations

import numpy as np
from calibd.handlers.cherenkov_transparency.export import PRODUCT
from calibd.handlers.cherenkov_transparency.transparency import (
    TransparencyConfig,
    cherenkov_transparency,
)

from calibd.handler_api import (
    BadInput,
    HandlerResult,
    ProductDraft,
    TriggerRatesEvent,
    handler,
)

__all__ = ["trigger_rates"]

_SCALARS = ("ctc", "ctc_err", "ctc_stat_err", "ctc_spread_err", "k_n")


@handler(
    "ctao.acada.trigger_rates",
    name="cherenkov_transparency",
    aliases=["transparency"],  # the former name: `handlers.transparency.*`, deprecated
    config=TransparencyConfig,
    algorithm="cherenkov-transparency-coefficient",
    version="1",
)
async def trigger_rates(event: TriggerRatesEvent, ctx) -> HandlerResult:
    data = event.data
    tels = data.telescopes
    duration = (data.interval_end - data.interval_start).total_seconds()
    given = [t.zenith_deg is not None for t in tels]
    if any(given) and not all(given):
        raise BadInput("zenith_deg is given for some telescopes only: give it for all or none")
    zenith = [t.zenith_deg for t in tels] if all(given) else None
    result = await ctx.run_cpu(
        cherenkov_transparency,
        [t.tel_id for t in tels],
        [t.rate_hz for t in tels],
        [t.muon_efficiency for t in tels],
        [t.gain_factor for t in tels],
        zenith,
        duration,
        ctx.config.model_dump(),
    )
    if result["too_few_telescopes"]:
        ctx.log.warning(
            "too few telescopes for a reliable transparency coefficient",
            n_telescopes=result["n_telescopes"],
            min_telescopes=ctx.config.min_telescopes,
        )
    scalars = {k: float(result[k]) for k in _SCALARS}
    summary = {
        **scalars,
        "mean_zenith_deg": None if zenith is None else float(np.mean(zenith)),
        "n_telescopes": int(result["n_telescopes"]),
        "too_few_telescopes": bool(result["too_few_telescopes"]),
    }
    product = ProductDraft(
        product_type=PRODUCT,
        valid_from=data.interval_start,
        valid_to=data.interval_end,
        payload={
            **summary,
            "relative_throughput": {
                int(t): float(r)
                for t, r in zip(result["tel_id"], result["relative_throughput"], strict=True)
            },
        },
        arrays={k: np.asarray(v) for k, v in result.items() if isinstance(v, np.ndarray)},
        summary=summary,
    )
    return HandlerResult(products=[product])
