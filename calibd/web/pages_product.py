"""A product's page (summary, provenance, configuration version, supersession links), its
plot as PNG, its input message as text and its export download."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from calibd.arrays import load_arrays
from calibd.plotting import (
    SERIES_PLOTTERS,
    can_plot,
    render_png_async,
    render_series_png,
    series_key,
)
from calibd.product_export import ExportRefused, export_suffixes, product_series, write_export
from calibd.web import params
from calibd.web.render import page

__all__ = ["export", "input_message", "plot", "product", "series_plot"]

MAX_EXPORT_BYTES = 512 << 20
MAX_SERIES = 500
_PLOTS: OrderedDict[str, bytes] = OrderedDict()  # a product's arrays never change: its plot
_PLOTS_KEPT = 32


async def _product(request: Request) -> dict[str, Any]:
    params.known_names(request.query_params, set())
    product_id = params.product_id(request.path_params["product_id"])
    prod = await request.app.state.store.product(product_id)
    if prod is None:
        raise HTTPException(404, f"no product {product_id!r} (or the prefix is ambiguous)")
    return prod


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


async def product(request: Request) -> Response:
    prod = await _product(request)
    prod.pop("arrays", None)
    prov = dict(prod.pop("provenance") or {})
    prov.pop("input_message", None)
    for key in ("input_files", "software", "config"):
        if key in prov:
            prov[key] = _json(prov[key])
    store = request.app.state.store
    superseded = await store.superseded_products(prod["id"])
    versions = await store.config_versions(limit=1000)
    version = next((v for v in versions if v["version"] == prod.get("config_version")), None)
    return page(
        request,
        "product.html",
        title=f"Product {prod['id']}",
        p=prod,
        prov=prov,
        superseded=superseded,
        version=version,
        plot=can_plot(prod["product_type"]),
        series=series_key(prod),
        exports=[prod["id"] + s for s in export_suffixes(prod["product_type"])],
    )


async def plot(request: Request) -> Response:
    prod = await _product(request)
    if not can_plot(prod["product_type"]):
        raise HTTPException(404, f"no plot for product type {prod['product_type']!r}")
    png = _PLOTS.get(prod["id"])
    if png is None:
        png = await render_png_async(prod, request.app.state.settings)
        _PLOTS[prod["id"]] = png
        while len(_PLOTS) > _PLOTS_KEPT:
            _PLOTS.popitem(last=False)
    _PLOTS.move_to_end(prod["id"])
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=60"})


async def series_plot(request: Request) -> Response:
    """The product's series plot (e.g. the coefficients along an observation block, or a
    transparency over nights)."""
    prod = await _product(request)
    if series_key(prod) is None:
        raise HTTPException(404, f"no series plot of product {prod['id']}")
    arrays = load_arrays(prod.pop("arrays", None))
    key_of = SERIES_PLOTTERS[prod["product_type"]].key
    series = await product_series(request.app.state.store, prod, arrays, key_of)
    if series is None:
        raise HTTPException(404, f"product {prod['id']} is superseded: see its valid series")
    if len(series) > MAX_SERIES:
        series = series[-MAX_SERIES:]  # the newest
    png = await asyncio.to_thread(render_series_png, series, request.app.state.settings)
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=60"})


async def input_message(request: Request) -> Response:
    """The message the product was made from, as received, as text (never as HTML)."""
    prod = await _product(request)
    raw = (prod.get("provenance") or {}).get("input_message") or b""
    text = bytes(raw).decode("utf-8", "replace") if not isinstance(raw, str) else raw
    return PlainTextResponse(text)


async def export(request: Request) -> Response:
    prod = await _product(request)
    filename = request.path_params["filename"]
    allowed = {prod["id"] + s for s in export_suffixes(prod["product_type"])}
    if filename not in allowed:
        raise HTTPException(404, f"no export {filename[:80]!r} of this product")
    settings = request.app.state.settings
    with tempfile.TemporaryDirectory(prefix="calibd-web-export-") as tmp:
        path = Path(tmp) / filename
        try:
            await write_export(request.app.state.store, settings, prod, path)
        except ExportRefused as exc:
            raise HTTPException(404, str(exc)) from None
        if path.stat().st_size > MAX_EXPORT_BYTES:
            raise HTTPException(404, "export larger than the dashboard serves: use the CLI")
        data = path.read_bytes()
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
