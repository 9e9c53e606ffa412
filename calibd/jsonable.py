"""Conversion of handler results to plain JSON (numpy scalars, times, paths; NaN -> null)."""

from __future__ import annotations

import math
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np
from pydantic import BaseModel

__all__ = ["to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """Recursively convert `obj` into JSON-compatible values; non-finite floats become None."""
    if isinstance(obj, BaseModel):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    if hasattr(obj, "to_value") and hasattr(obj, "unit"):  # astropy Quantity
        return {"value": to_jsonable(obj.to_value()), "unit": str(obj.unit)}
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")
