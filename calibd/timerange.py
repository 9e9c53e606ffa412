"""The epoch calibd accepts: times in messages and input files between 1990 and 2200 (UTC).

Outside it, a time is not CTAO data but a broken input (a period in year 0001, a FITS time of
1e12 MJD): astropy/ERFA and datetime fail on it, and stored products would not sort. Both
checks raise BadInput naming the field and the value.
"""

from __future__ import annotations

import functools
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from calibd.errors import BadInput

__all__ = ["EARLIEST", "LATEST", "check_event_times", "check_mjd"]

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_MJD = 47892.0  # 1990-01-01
LATEST_MJD = 124593.0  # 2200-01-01
_RANGE = "1990-01-01 to 2200-01-01 UTC"


def _may_hold_time(annotation: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a field of this annotation can hold a datetime (Any and unknown types: yes)."""
    if annotation is datetime or annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return False
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation not in seen and any(
                _may_hold_time(f.annotation, seen | {annotation})
                for f in annotation.model_fields.values()
            )
        return not issubclass(annotation, str | bytes | int | float | bool | date | Enum)
    if typing.get_origin(annotation) is Literal:
        return False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        args = args[:1]  # the type; the rest is metadata
    return any(_may_hold_time(a, seen) for a in args) if args else True


@functools.cache
def _time_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of model `cls` that can hold a datetime, computed once per class."""
    return tuple(k for k, f in cls.model_fields.items() if _may_hold_time(f.annotation))


def _walk(value: Any, path: str):
    if isinstance(value, datetime):
        yield path, value
    elif isinstance(value, BaseModel):
        for key in _time_fields(type(value)):
            yield from _walk(getattr(value, key), f"{path}.{key}" if path else key)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")


def _all_inside(value: Any) -> bool:
    """Every datetime in `value` inside the epoch: `_walk` without paths, generators or
    recursion (what every message pays; the paths only for a bad one)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, datetime):
            aware = v if v.tzinfo else v.replace(tzinfo=UTC)
            if not EARLIEST <= aware < LATEST:
                return False
        elif isinstance(v, BaseModel):
            stack.extend(getattr(v, key) for key in _time_fields(type(v)))
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return True


def _inside(value: datetime) -> bool:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return EARLIEST <= aware < LATEST


def check_event_times(event: BaseModel) -> None:
    """BadInput for the first datetime of the envelope or its data outside the epoch."""
    if _all_inside(event):
        return
    for path, value in _walk(event, ""):
        if not _inside(value):
            raise BadInput(
                f"{path}: {value.isoformat()} is outside the supported time range {_RANGE}"
            )


def check_mjd(name: str, field: str, mjd: np.ndarray) -> np.ndarray:
    """`mjd` unchanged; BadInput naming `name` and `field` for NaN or values outside the epoch."""
    values = np.asarray(mjd, dtype=np.float64)
    bad = ~((values >= EARLIEST_MJD) & (values < LATEST_MJD))
    if bad.any():
        example = values[bad][0]
        raise BadInput(
            f"{name}: {field}: {int(bad.sum())} of {values.size} times outside the supported "
            f"range {_RANGE} (e.g. MJD {example:.6g})"
        )
    return values
