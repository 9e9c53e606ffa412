"""What handler modules contribute besides handlers: product exporters and simulators.

@exporter("camera_calibration")          # calibd product export ID -o FILE.fits
def export_camera(product: dict, arrays: dict[str, np.ndarray], path: Path) -> None: ...

@exporter("camera_calibration", suffix=".h5", series=lambda p: p["summary"].get("block"))
def export_hdf5(job: ExportJob) -> None: ...  # calibd product export ID -o FILE.h5

An exporter without `suffix` writes any other file name. One registered for a suffix takes
an `ExportJob`: the product, its series (the valid products of the same type, telescope and
category whose `series` key equals the product's; the product alone when the key is None),
calibd's settings and the path.

@simulator("camera-run", help="write a synthetic pedestal or flat-field run")
def camera_run(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--tel", type=int, default=1)
    return run                            # calibd simulate camera-run --tel 1 ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calibd.errors import ConfigurationError

__all__ = [
    "EXPORTERS",
    "SIMULATORS",
    "SUFFIX_EXPORTERS",
    "ExportJob",
    "SuffixExporter",
    "exporter",
    "find_exporter",
    "product_cards",
    "simulator",
]

Exporter = Callable[[dict[str, Any], dict[str, np.ndarray], Path], None]
SimulatorSetup = Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]
SeriesKey = Callable[[dict[str, Any]], Hashable | None]


@dataclass(frozen=True)
class ExportJob:
    """What an exporter registered for a file suffix gets."""

    path: Path
    product: dict[str, Any]
    arrays: dict[str, np.ndarray]
    #: (product, arrays) of its series, oldest validity first, the product included
    series: list[tuple[dict[str, Any], dict[str, np.ndarray]]]
    #: calibd's `Settings` (the exporter reads its handler's section)
    settings: Any


@dataclass(frozen=True)
class SuffixExporter:
    fn: Callable[[ExportJob], None]
    series: SeriesKey | None = None


EXPORTERS: dict[str, Exporter] = {}
SUFFIX_EXPORTERS: dict[tuple[str, str], SuffixExporter] = {}
SIMULATORS: dict[str, tuple[str, SimulatorSetup]] = {}


def exporter(
    *product_types: str, suffix: str | None = None, series: SeriesKey | None = None
) -> Callable[[Callable], Callable]:
    """Register a function writing products of these types to a file: for any file name
    (`fn(product, arrays, path)`), or with `suffix` (".h5") for the names ending so
    (`fn(job: ExportJob)`, with the series of products `series(product)` selects)."""
    if suffix is not None and not suffix.startswith("."):
        raise ConfigurationError(f"exporter suffix {suffix!r} must start with a dot")
    if series is not None and suffix is None:
        raise ConfigurationError("an exporter of a series needs a suffix")

    def decorate(fn: Callable) -> Callable:
        for t in product_types:
            if suffix is None:
                if t in EXPORTERS and EXPORTERS[t] is not fn:
                    raise ConfigurationError(f"product type {t!r} already has an exporter")
                EXPORTERS[t] = fn
                continue
            key = (t, suffix.lower())
            if key in SUFFIX_EXPORTERS and SUFFIX_EXPORTERS[key].fn is not fn:
                raise ConfigurationError(
                    f"product type {t!r} already has a {suffix.lower()} exporter"
                )
            SUFFIX_EXPORTERS[key] = SuffixExporter(fn, series)
        return fn

    return decorate


def find_exporter(product_type: str, path: Path) -> SuffixExporter | Exporter | None:
    """The exporter of `product_type` for this file name: one registered for its suffix
    (".h5", or ".fits.gz" before ".gz"), else the type's general one."""
    name = path.name.lower()
    found = [(s, e) for (t, s), e in SUFFIX_EXPORTERS.items() if t == product_type]
    for suffix, entry in sorted(found, key=lambda f: -len(f[0])):
        if name.endswith(suffix):
            return entry
    return EXPORTERS.get(product_type)


def product_cards(product: dict[str, Any]) -> dict[str, Any]:
    """The FITS header keys every exported product carries: id, category, validity, and the
    ctao-datamodel reference metadata (`calibd.reference_metadata`)."""
    from calibd.reference_metadata import reference_cards

    return {
        "PRODUCT": product["id"],
        "CATEGORY": product["category"],
        "VALSTART": product.get("valid_from"),
        "VALEND": product.get("valid_to") or "",
        **reference_cards(product),
    }


def simulator(name: str, help: str) -> Callable[[SimulatorSetup], SimulatorSetup]:
    """Register a `calibd simulate NAME` subcommand (its setup adds arguments, returns run)."""

    def decorate(fn: SimulatorSetup) -> SimulatorSetup:
        SIMULATORS[name] = (help, fn)
        return fn

    return decorate
