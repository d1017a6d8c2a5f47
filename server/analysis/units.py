"""Output units. Internal values are SI; the report follows `measurement_system`:
metric = mm, m/s, N, W, kg, degrees; imperial = in, ft/s, lbf, W, lb, degrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

import numpy as np

from server.errors import InvalidInputError

System = Literal["metric", "imperial"]

M_PER_IN = 0.0254
M_PER_FT = 0.3048
KG_PER_LB = 0.45359237
N_PER_LBF = 4.4482216152605  # one pound-force: 1 lb * standard gravity


class Quantity(StrEnum):
    LENGTH = "length"  # in: metres
    VELOCITY = "velocity"  # in: m/s
    FORCE = "force"  # in: N
    POWER = "power"  # in: W
    MASS = "mass"  # in: kg
    ANGLE = "angle"  # in: degrees
    TIME = "time"  # in: seconds


_UNIT: dict[str, dict[Quantity, str]] = {
    "metric": {
        Quantity.LENGTH: "mm",
        Quantity.VELOCITY: "m/s",
        Quantity.FORCE: "N",
        Quantity.POWER: "W",
        Quantity.MASS: "kg",
        Quantity.ANGLE: "degrees",
        Quantity.TIME: "s",
    },
    "imperial": {
        Quantity.LENGTH: "in",
        Quantity.VELOCITY: "ft/s",
        Quantity.FORCE: "lbf",
        Quantity.POWER: "W",
        Quantity.MASS: "lb",
        Quantity.ANGLE: "degrees",
        Quantity.TIME: "s",
    },
}

# Multiply an SI value by this to get the output unit.
_FACTOR: dict[str, dict[Quantity, float]] = {
    "metric": {
        Quantity.LENGTH: 1000.0,
        Quantity.VELOCITY: 1.0,
        Quantity.FORCE: 1.0,
        Quantity.POWER: 1.0,
        Quantity.MASS: 1.0,
        Quantity.ANGLE: 1.0,
        Quantity.TIME: 1.0,
    },
    "imperial": {
        Quantity.LENGTH: 1.0 / M_PER_IN,
        Quantity.VELOCITY: 1.0 / M_PER_FT,
        Quantity.FORCE: 1.0 / N_PER_LBF,
        Quantity.POWER: 1.0,
        Quantity.MASS: 1.0 / KG_PER_LB,
        Quantity.ANGLE: 1.0,
        Quantity.TIME: 1.0,
    },
}

# Rounding per output unit: enough digits for the unit's precision, no float noise in the JSON.
_DECIMALS: dict[str, int] = {
    "mm": 1,
    "in": 2,
    "m/s": 3,
    "ft/s": 3,
    "N": 1,
    "lbf": 1,
    "W": 1,
    "kg": 2,
    "lb": 2,
    "degrees": 1,
    "s": 4,
}


def check_system(system: str) -> System:
    if system not in ("metric", "imperial"):
        raise InvalidInputError(f"units must be 'metric' or 'imperial', got {system!r}")
    return "metric" if system == "metric" else "imperial"


def unit_name(quantity: Quantity, system: str) -> str:
    return _UNIT[check_system(system)][quantity]


def convert(value: float, quantity: Quantity, system: str) -> float:
    """One SI value in the output unit (rounded)."""
    unit = unit_name(quantity, system)
    return round(float(value) * _FACTOR[check_system(system)][quantity], _DECIMALS[unit])


def to_si(value: float, quantity: Quantity, system: str) -> float:
    """An output-unit value back to SI (e.g. a mass typed in lb)."""
    return float(value) / _FACTOR[check_system(system)][quantity]


def convert_series(
    values: Sequence[float] | np.ndarray, quantity: Quantity, system: str
) -> list[float | None]:
    """SI values to a JSON list in the output unit; NaN or None becomes None (null), never NaN."""
    unit = unit_name(quantity, system)
    factor = _FACTOR[check_system(system)][quantity]
    out: list[float | None] = []
    for v in values:
        if v is None or not np.isfinite(v):
            out.append(None)
        else:
            out.append(round(float(v) * factor, _DECIMALS[unit]))
    return out


def units_block(system: str) -> dict[str, str]:
    """The document's units section: quantity -> unit name, plus the system."""
    s = check_system(system)
    return {"system": s, **{q.value: u for q, u in _UNIT[s].items()}}
