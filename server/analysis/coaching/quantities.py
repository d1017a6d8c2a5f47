"""Physical quantities of the coaching engine: SI inside, metric or imperial outside.

Everything the rules compute is SI (m, m/s, N, W, kg, s; angles in degrees). Only at the very end
is a value converted to the requested measurement system (DESIGN.md "Measurements": metric = mm,
m/s, N, W, kg, degrees; imperial = in, ft/s, lbf, W, lb, degrees) and rounded for display.
"""

from __future__ import annotations

import math
from enum import StrEnum

from server.errors import InvalidInputError


class Quantity(StrEnum):
    """What a number measures; decides its display unit and precision."""

    LENGTH = "length"
    VELOCITY = "velocity"
    FORCE = "force"
    POWER = "power"
    ANGLE = "angle"
    TIME = "time"
    MASS = "mass"


UNIT_SYSTEMS: tuple[str, ...] = ("metric", "imperial")

# Exact definitions: 1 in = 0.0254 m, 1 ft = 0.3048 m, 1 lb = 0.45359237 kg, 1 lbf = 1 lb * g0.
M_PER_IN = 0.0254
M_PER_FT = 0.3048
KG_PER_LB = 0.45359237
N_PER_LBF = KG_PER_LB * 9.80665

# (unit label, SI units per display unit, decimals) per system and quantity.
_DISPLAY: dict[str, dict[Quantity, tuple[str, float, int]]] = {
    "metric": {
        Quantity.LENGTH: ("mm", 0.001, 0),
        Quantity.VELOCITY: ("m/s", 1.0, 2),
        Quantity.FORCE: ("N", 1.0, 0),
        Quantity.POWER: ("W", 1.0, 0),
        Quantity.ANGLE: ("degrees", 1.0, 0),
        Quantity.TIME: ("s", 1.0, 2),
        Quantity.MASS: ("kg", 1.0, 1),
    },
    "imperial": {
        Quantity.LENGTH: ("in", M_PER_IN, 1),
        Quantity.VELOCITY: ("ft/s", M_PER_FT, 2),
        Quantity.FORCE: ("lbf", N_PER_LBF, 0),
        Quantity.POWER: ("W", 1.0, 0),
        Quantity.ANGLE: ("degrees", 1.0, 0),
        Quantity.TIME: ("s", 1.0, 2),
        Quantity.MASS: ("lb", KG_PER_LB, 1),
    },
}

# Unit strings a session document may name, as SI units per unit (angles stay in degrees).
SI_PER_UNIT: dict[str, float] = {
    "m": 1.0,
    "cm": 0.01,
    "mm": 0.001,
    "in": M_PER_IN,
    "ft": M_PER_FT,
    "m/s": 1.0,
    "ft/s": M_PER_FT,
    "in/s": M_PER_IN,
    "mm/s": 0.001,
    "n": 1.0,
    "lbf": N_PER_LBF,
    "w": 1.0,
    "kg": 1.0,
    "lb": KG_PER_LB,
    "lbs": KG_PER_LB,
    "s": 1.0,
    "ms": 0.001,
    "deg": 1.0,
    "degree": 1.0,
    "degrees": 1.0,
    "°": 1.0,
}


def check_units(units: str) -> str:
    """The measurement system name, lower-cased; InvalidInputError for anything else."""
    if not isinstance(units, str) or units.strip().lower() not in UNIT_SYSTEMS:
        raise InvalidInputError(
            f"measurement system {units!r} is not one of {', '.join(UNIT_SYSTEMS)}"
        )
    return units.strip().lower()


def display_unit(quantity: Quantity, units: str) -> str:
    """The unit label a quantity is shown in under a measurement system."""
    return _DISPLAY[check_units(units)][quantity][0]


def to_display(quantity: Quantity, value_si: float, units: str) -> float:
    """An SI value converted to the display unit of `units` and rounded to its precision."""
    _, si_per_unit, decimals = _DISPLAY[check_units(units)][quantity]
    return round(value_si / si_per_unit, decimals)


def default_doc_unit(quantity: Quantity, system: str) -> str:
    """The unit a session document written in `system` uses for a quantity (DESIGN.md)."""
    return _DISPLAY[system][quantity][0]


def format_value(quantity: Quantity, value_si: float, units: str) -> str:
    """A display string such as '1,180 mm', '46.5 in', '1.85 m/s', '148°', '0.52 s'."""
    if not math.isfinite(value_si):
        return "n/a"
    unit, _, decimals = _DISPLAY[check_units(units)][quantity]
    shown = to_display(quantity, value_si, units)
    if shown == 0:
        shown = 0.0  # no "-0 mm"
    number = f"{shown:,.{decimals}f}"
    if quantity is Quantity.ANGLE:
        return f"{number}°"
    return f"{number} {unit}"
