"""The session-data document read once into SI series, phase windows and lift facts.

The document is the seed's session-data shape (exercise, key_metrics, body_positioning,
joint_angles, barbell_positioning, chart_data in ms, timestamps in s) plus what the analysis stage
adds: a "units" block, "warnings", "calibration" and a "lift" block. Series values are in the
document's own unit system; here they become SI. Anything missing or malformed becomes "unknown"
(NaN, None, an absent key) so that a rule can say it could not judge, never crash.

Lift block keys read (all optional; SI: m/s, m, s):
  peak_bar_velocity | peak_velocity   number, or {"value": m/s, "t": s}
  max_bar_height | max_height         number, or {"value": m, "t": s}
  phase_durations                     {phase: s}
  bar_path                            {"type": 1|2|3|"type_1"|..., <displacement name>: m, ...}
                                      or the type alone; also bar_path_type
  force_model                         "bar_only" | "bar_and_body" (ground reaction force model);
                                      also read from the top level or "calibration", and under
                                      ground_reaction_force_model | grf_model | force_estimate
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np
from numpy.typing import NDArray

from server.analysis.coaching.quantities import (
    SI_PER_UNIT,
    UNIT_SYSTEMS,
    Quantity,
    default_doc_unit,
)
from server.errors import InvalidInputError

# The 12 metric keys of the seed's comment threads, with the document group each lives in.
METRIC_GROUPS: dict[str, str] = {
    "power_output": "key_metrics",
    "ground_reaction_force": "key_metrics",
    "barbell_velocity": "key_metrics",
    "hip_velocity": "body_positioning",
    "shin_angle": "body_positioning",
    "hip_height": "body_positioning",
    "torso_angle": "body_positioning",
    "hip_angle": "joint_angles",
    "knee_angle": "joint_angles",
    "bar_height": "barbell_positioning",
    "barbell_trajectory": "barbell_positioning",
    "vertical_shoulder_height": "barbell_positioning",
}
GROUPS: tuple[str, ...] = ("key_metrics", "body_positioning", "joint_angles", "barbell_positioning")

_QUANTITY_BY_NAME: dict[str, Quantity] = {
    "power_output": Quantity.POWER,
    "ground_reaction_force": Quantity.FORCE,
    "barbell_velocity": Quantity.VELOCITY,
    "hip_velocity": Quantity.VELOCITY,
    "hip_height": Quantity.LENGTH,
    "bar_height": Quantity.LENGTH,
    "barbell_trajectory": Quantity.LENGTH,
    "vertical_shoulder_height": Quantity.LENGTH,
}


def quantity_of(name: str) -> Quantity:
    """The quantity a series measures: angles end in '_angle', the rest are listed."""
    if name.endswith("_angle"):
        return Quantity.ANGLE
    return _QUANTITY_BY_NAME.get(name, Quantity.LENGTH)


@dataclass(frozen=True)
class Series:
    """One per-frame series in SI units.

    values: (N,) float64, NaN where the document has null. t: (N,) float64 seconds from the start
    of the video, or None when the document's timestamps are missing or of another length.
    """

    name: str
    quantity: Quantity
    values: NDArray[np.float64]
    t: NDArray[np.float64] | None

    @property
    def valid(self) -> NDArray[np.bool_]:
        """(N,) True where the value is known."""
        return np.isfinite(self.values)

    def count(self) -> int:
        return int(self.valid.sum())

    def window(self, t0: float, t1: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(times, values) of the known samples in [t0, t1] widened by just under half a frame.

        Phase boundaries are refined between frames (an extremum's interpolated time), so the
        frame nearest a boundary belongs to the window: the lowest point of the catch must not
        be lost because it was sampled 10 ms after the interpolated catch time. Empty without
        timestamps.
        """
        if self.t is None:
            empty = np.zeros(0, dtype=np.float64)
            return empty, empty
        pad = 0.49 * self.frame_interval + 1e-9
        keep = self.valid & (self.t >= t0 - pad) & (self.t <= t1 + pad)
        return self.t[keep], self.values[keep]

    @property
    def frame_interval(self) -> float:
        """Median time between samples, s (0 with fewer than two timestamps)."""
        if self.t is None or self.t.size < 2:
            return 0.0
        steps = np.diff(self.t)
        steps = steps[np.isfinite(steps) & (steps > 0)]
        return float(np.median(steps)) if steps.size else 0.0

    def at(self, t: float, tolerance: float = 0.1) -> float | None:
        """The known value nearest to time t, if one lies within `tolerance` seconds."""
        if self.t is None:
            return None
        idx = np.flatnonzero(self.valid)
        if idx.size == 0:
            return None
        best = idx[np.argmin(np.abs(self.t[idx] - t))]
        if abs(float(self.t[best]) - t) > tolerance:
            return None
        return float(self.values[best])


@dataclass(frozen=True)
class Moment:
    """A value (SI) and when it happened (s from the start of the video, None if unknown)."""

    value: float
    t: float | None


@dataclass(frozen=True)
class Session:
    """What the rules read. Phases: name -> (start, end) in seconds from the start of the video."""

    exercise: str
    doc_system: str
    series: Mapping[str, Series]
    phases: Mapping[str, tuple[float, float]]
    peak_velocity: Moment | None
    max_height: Moment | None
    phase_durations: Mapping[str, float]
    bar_path_type: str | None
    bar_path_lengths: Mapping[str, float]
    force_model: str | None
    warnings: tuple[str, ...]
    calibration: Mapping[str, Any] = field(default_factory=dict)
    session_date: str | None = None
    user_information: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Series | None:
        """A series by metric name, or None when absent."""
        return self.series.get(name)

    def phase_at(self, t: float | None) -> str | None:
        """The phase whose (start, end] holds time t, else the one starting at t; None if none.

        A moment on a boundary belongs to the phase it ends: peak velocity ends the second
        pull, the highest point ends the turnover, the lowest point ends the catch.
        """
        if t is None:
            return None
        eps = 1e-6
        for name, (start, end) in self.phases.items():
            if start + eps < t <= end + eps:
                return name
        for name, (start, end) in self.phases.items():
            if start - eps <= t < end:
                return name
        return None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Session:
        """Read a session-data document; InvalidInputError only when it is not a mapping."""
        if not isinstance(document, Mapping):
            raise InvalidInputError(
                f"session document must be a JSON object, got {type(document).__name__}"
            )
        units_block = _mapping(document.get("units"))
        system = _document_system(units_block)
        times = _float_array(document.get("timestamps"))
        series: dict[str, Series] = {}
        for group in GROUPS:
            for name, raw in _mapping(document.get(group)).items():
                if not isinstance(raw, list) or name in series:
                    continue
                quantity = quantity_of(str(name))
                factor = _si_factor(str(name), quantity, units_block, system)
                values = _float_array(raw) * factor
                t = times if times is not None and times.size == values.size else None
                series[str(name)] = Series(str(name), quantity, values, t)
        phases = _phases(document.get("chart_data"))
        lift = _mapping(document.get("lift"))
        # Durations at the 1 ms resolution of chart_data: float noise such as
        # 0.30000000000000004 s must not decide a comparison with a 0.30 s bound.
        durations = {
            str(k): round(float(v), 3)
            for k, v in _mapping(lift.get("phase_durations")).items()
            if _is_number(v)
        }
        for name, (start, end) in phases.items():
            durations.setdefault(name, round(end - start, 3))
        path_type, path_lengths = _bar_path(lift)
        force_model = _first(
            (lift, document, _mapping(document.get("calibration"))),
            ("force_model", "ground_reaction_force_model", "grf_model", "force_estimate"),
        )
        return cls(
            exercise=str(document.get("exercise", "")).strip().lower(),
            doc_system=system,
            series=series,
            phases=phases,
            peak_velocity=_moment(lift, ("peak_bar_velocity", "peak_velocity"), 20.0),
            max_height=_moment(lift, ("max_bar_height", "max_height"), 5.0, units_block, system),
            phase_durations=durations,
            bar_path_type=path_type,
            bar_path_lengths=path_lengths,
            force_model=str(force_model) if force_model is not None else None,
            warnings=tuple(str(w) for w in _list(document.get("warnings"))),
            calibration=_mapping(document.get("calibration")),
            session_date=_str_or_none(document.get("session_date")),
            user_information=_mapping(document.get("user_information")),
        )


def _first(blocks: tuple[Mapping[str, Any], ...], keys: tuple[str, ...]) -> object:
    """The first non-null value of any key in any block, in order."""
    for block in blocks:
        for key in keys:
            if block.get(key) is not None:
                return block[key]
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _is_number(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _float_array(raw: object) -> NDArray[np.float64]:
    """A list of numbers/nulls as float64 with NaN for anything that is not a finite number."""
    if not isinstance(raw, list):
        return np.zeros(0, dtype=np.float64)
    return np.array([float(v) if _is_number(v) else math.nan for v in raw], dtype=np.float64)


def _document_system(units_block: Mapping[str, Any]) -> str:
    """'metric' or 'imperial': named in the units block, else told by its unit strings."""
    for key in ("system", "measurement_system"):
        named = units_block.get(key)
        if isinstance(named, str) and named.lower() in UNIT_SYSTEMS:
            return named.lower()
    labels = {str(v).strip().lower() for v in units_block.values() if isinstance(v, str)}
    if labels & {"in", "ft/s", "lbf", "lb", "ft"}:
        return "imperial"
    return "metric"


def _si_factor(name: str, quantity: Quantity, units_block: Mapping[str, Any], system: str) -> float:
    """SI units per document unit for one series: its own entry, its quantity's, or the default."""
    for key in (name, quantity.value):
        label = units_block.get(key)
        if isinstance(label, str) and label.strip().lower() in SI_PER_UNIT:
            return SI_PER_UNIT[label.strip().lower()]
    return SI_PER_UNIT[default_doc_unit(quantity, system).lower()]


def _phases(chart: object) -> dict[str, tuple[float, float]]:
    """chart_data {phase: {start: ms, end: ms}} as seconds, skipping malformed or empty ones."""
    out: dict[str, tuple[float, float]] = {}
    for name, span in _mapping(chart).items():
        span_map = _mapping(span)
        start, end = span_map.get("start"), span_map.get("end")
        if _is_number(start) and _is_number(end) and float(end) > float(start):
            out[str(name)] = (float(start) / 1000.0, float(end) / 1000.0)
    return out


def _moment(
    lift: Mapping[str, Any],
    keys: tuple[str, ...],
    si_ceiling: float,
    units_block: Mapping[str, Any] | None = None,
    system: str = "metric",
) -> Moment | None:
    """A lift-block value given as a number or {"value", "t"}.

    The brief fixes these values in SI; a value above `si_ceiling` cannot be SI (no bar rises 5 m)
    and is read as a length in the document's unit instead, so a block written in mm still works.
    """
    for key in keys:
        for candidate in (key, f"{key}_m", f"{key}_m_s"):
            raw = lift.get(candidate)
            entry = _mapping(raw)
            value = entry.get("value") if entry else raw
            if not _is_number(value):
                continue
            number = float(value)
            if number > si_ceiling and units_block is not None:
                number *= _si_factor("bar_height", Quantity.LENGTH, units_block, system)
            t = entry.get("t") if entry else lift.get(f"{key}_t")
            return Moment(number, float(t) if _is_number(t) else None)
    return None


def _bar_path(lift: Mapping[str, Any]) -> tuple[str | None, dict[str, float]]:
    """The Vorobyev type as '1', '2' or '3' (whatever spelling) and the displacements (m)."""
    raw = lift.get("bar_path", lift.get("barpath"))
    entry = _mapping(raw)
    kind: object = entry.get("type", entry.get("vorobyev_type")) if entry else raw
    if kind is None:
        kind = lift.get("bar_path_type")
    lengths = {
        str(k): float(v)
        for k, v in entry.items()
        # Keys become template fields, so only plain identifiers are kept.
        if k not in ("type", "vorobyev_type") and str(k).isidentifier() and _is_number(v)
    }
    if kind is None or isinstance(kind, Mapping):
        return None, lengths
    digits = "".join(ch for ch in str(kind) if ch.isdigit())
    return (digits or str(kind)), lengths
