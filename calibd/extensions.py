"""What handler modules contribute besides handlers: product exporters and simulators.

@exporter("camera_calibration")          # calibd product export ID -o FILE.fits
def export_camera(product: dict, arrays: dict[str, np.ndarray], path: Path) -> None: ...

@simulator("camera-run", help="write a synthetic pedestal or flat-field run")
def camera_run(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--tel", type=int, default=1)
    return run                            # calibd simulate camera-run --tel 1 ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calibd.errors import ConfigurationError

__all__ = ["EXPORTERS", "SIMULATORS", "exporter", "product_cards", "simulator"]

Exporter = Callable[[dict[str, Any], dict[str, np.ndarray], Path], None]
SimulatorSetup = Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]

EXPORTERS: dict[str, Exporter] = {}
SIMULATORS: dict[str, tuple[str, SimulatorSetup]] = {}


def exporter(*product_types: str) -> Callable[[Exporter], Exporter]:
    """Register a function writing products of these types to a file."""

    def decorate(fn: Exporter) -> Exporter:
        for t in product_types:
            if t in EXPORTERS and EXPORTERS[t] is not fn:
                raise ConfigurationError(f"product type {t!r} already has an exporter")
            EXPORTERS[t] = fn
        return fn

    return decorate


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
