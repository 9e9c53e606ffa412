"""Writing a product to a file with its registered exporter: the code path of
`calibd product export` and of the dashboard's export download."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calibd.config import Settings
from calibd.errors import CalibdError
from calibd.progress import Progress

__all__ = ["ExportRefused", "export_suffixes", "product_series", "write_export"]


class ExportRefused(CalibdError):
    """The product cannot be exported to that file (no exporter, superseded series member)."""


def export_suffixes(product_type: str) -> list[str]:
    """The file endings a product of this type can be exported to (".fits" for the type's
    general exporter, then each suffix exporter's); empty when it has none."""
    from calibd.extensions import EXPORTERS, SUFFIX_EXPORTERS

    general = [".fits"] if product_type in EXPORTERS else []
    return general + sorted(s for t, s in SUFFIX_EXPORTERS if t == product_type)


async def write_export(
    store: Any, settings: Settings, prod: dict, output: Path, bar: Progress | None = None
) -> None:
    """Write `prod` (as `store.product` returns it, arrays included) to `output`; the
    exporter (CPU and file work) runs in a thread. Raises ExportRefused. `bar` counts the
    products read, then shows the writing."""
    from calibd.arrays import load_arrays
    from calibd.extensions import (
        EXPORTERS,
        SUFFIX_EXPORTERS,
        ExportJob,
        SuffixExporter,
        find_exporter,
    )

    export = find_exporter(prod["product_type"], output)
    if export is None:
        known = sorted({*EXPORTERS, *(t for t, _ in SUFFIX_EXPORTERS)})
        raise ExportRefused(
            f"no exporter for product type {prod['product_type']!r} "
            f"(known: {', '.join(known) or 'none'})"
        )
    prod = dict(prod)
    arrays = load_arrays(prod.pop("arrays", None))
    if isinstance(export, SuffixExporter):
        series = await _export_series(store, prod, arrays, export, bar)
        if series is None:
            raise ExportRefused(
                f"product {prod['id']} is superseded (by {prod.get('superseded_by')}): "
                "export one of the valid products of its series"
            )
        job = ExportJob(output, prod, arrays, series, settings)
        await _writing(bar, output, asyncio.to_thread(export.fn, job))
    else:
        await _writing(bar, output, asyncio.to_thread(export, prod, arrays, output))


async def _export_series(
    store: Any, prod: dict, arrays: dict, export: Any, bar: Progress | None = None
) -> list | None:
    """The series an exporter writes: `product_series` by the exporter's key."""
    return await product_series(store, prod, arrays, export.series, bar)


async def _writing(bar: Progress | None, output: Path, work) -> None:
    """Await `work`, redrawing `bar` (elapsed time) every half second meanwhile."""
    task = asyncio.ensure_future(work)
    while bar is not None and not task.done():
        bar.advance(0, note=f"writing {output.name}")
        await asyncio.wait([task], timeout=0.5)
    await task


async def product_series(
    store: Any,
    prod: dict,
    arrays: dict,
    key_of: Callable[[dict], Any] | None,
    bar: Progress | None = None,
) -> list | None:
    """(product, arrays) of the valid products of `prod`'s series (same type, telescope,
    category and `key_of` key), by validity start; `prod` alone when it has no key; None when
    `prod` is superseded. `bar` counts the products read."""
    from calibd.arrays import load_arrays

    key = key_of(prod) if key_of is not None else None
    if key is None:
        return [(prod, arrays)]
    rows = await store.products(
        product_type=prod["product_type"], tel_id=prod["tel_id"], limit=100_000
    )
    ids = [r["id"] for r in rows if r["category"] == prod["category"] and key_of(r) == key]
    if prod["id"] not in ids:
        return None
    series = []
    if bar is not None:
        bar.total = len(ids)
    for product_id in ids:
        if bar is not None:
            bar.advance(note="reading")
        other = prod if product_id == prod["id"] else await store.product(product_id)
        blob = arrays if other is prod else load_arrays(other.pop("arrays"))
        series.append((other, blob))
    return sorted(series, key=lambda pa: (pa[0]["valid_from"], pa[0]["id"]))
