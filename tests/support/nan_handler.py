"""A test handler whose product holds an undeclared NaN (a handler bug the product check must
catch before commit). Loaded after `calibd.handlers`, it replaces the weather handler."""

from __future__ import annotations

import numpy as np

from calibd.registry import HandlerResult, ProductDraft, handler


@handler("ctao.acada.weather", name="nan_weather", algorithm="nan", replace=True)
async def nan_weather(event, ctx) -> HandlerResult:
    draft = ProductDraft(
        product_type="molecular_extinction",
        valid_from=event.data.time,
        payload={"profile": {"tau": [0.1, float("nan")]}},
        arrays={"tau": np.array([0.1, 0.2])},
    )
    return HandlerResult(products=[draft])
