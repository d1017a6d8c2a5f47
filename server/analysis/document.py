"""From measurements to the session-data document (the seed's shape, plus our own blocks).

Definitions (DESIGN.md, Measurements), all computed in SI and written in the requested units:
- barbell_velocity: vertical bar velocity, m/s (RTS-smoothed, `kinematics.bar_kinematics`).
- power_output: F v with F = m_bar (g + a_bar), W.
- ground_reaction_force: m_bar (g + a_bar) [+ m_body (g + a_hip) when body mass is known], N;
  `lift.force_model` says which.
- hip_velocity: vertical velocity of the hip midpoint, m/s. hip_height,
  vertical_shoulder_height, bar_height: above the floor (the bar's rest level minus the plate
  radius), mm | in. barbell_trajectory: horizontal bar displacement from lift-off, positive in
  the lifter's facing direction, mm | in.
- shin_angle, torso_angle, <joint>_angle: degrees (server/analysis/angles.py).

Every series has one value per timestamp (null where it is not known: no pose, or the bar not
seen within BAR_GAP_S). The "lift" block holds the lift's numbers in SI (m, m/s, s), "units" the
series' units, "calibration" how pixels became metres, "warnings" what the analysis guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from server.analysis import angles
from server.analysis.coaching.measures import classify_bar_path, path_displacements
from server.analysis.coaching.session import Session
from server.analysis.kinematics import (
    BarKinematics,
    BodyKinematics,
    bar_power,
    ground_reaction_force,
)
from server.analysis.units import Quantity, convert_series, units_block
from server.phases.segment import LiftSegments
from server.phases.types import BOUNDARY_EVENTS
from server.pose.types import PoseFrame
from server.tracking.calibration import Calibration

FloatArray = NDArray[np.float64]
BAR_GAP_S = 0.25  # bar series are reported only this close (s) to a frame where the plate was seen
DOCUMENT_VERSION = 1


@dataclass(frozen=True)
class BodySeries:
    """Per-frame body angles, degrees, NaN where no pose: shin, torso, and each chosen joint."""

    shin: FloatArray
    torso: FloatArray
    joints: dict[str, FloatArray]


def body_angles(poses: list[PoseFrame | None], facing: int, joints: tuple[str, ...]) -> BodySeries:
    n = len(poses)
    shin, torso = np.full(n, np.nan), np.full(n, np.nan)
    per_joint = {j: np.full(n, np.nan) for j in joints}
    for i, pose in enumerate(poses):
        if pose is None:
            continue
        side = angles.near_side(pose)
        shin[i] = angles.shin_angle(pose, facing, side)
        torso[i] = angles.torso_angle(pose, facing, side)
        for joint, value in angles.joint_angles(pose, joints, side).items():
            per_joint[joint][i] = value
    return BodySeries(shin, torso, per_joint)


def near_measurement(
    t: FloatArray, measured: NDArray[np.bool_], gap_s: float = BAR_GAP_S
) -> NDArray[np.bool_]:
    """(N,) frames within gap_s of a measured frame (where a smoothed value is interpolation,
    not extrapolation)."""
    seen = t[measured]
    if seen.size == 0:
        return np.zeros(t.shape, bool)
    idx = np.clip(np.searchsorted(seen, t), 1, max(1, seen.size - 1))
    nearest = np.minimum(
        np.abs(t - seen[idx - 1]), np.abs(t - seen[np.minimum(idx, seen.size - 1)])
    )
    return np.asarray(nearest <= gap_s)


def _moment(t: float, value: float) -> dict[str, float]:
    return {"value": round(float(value), 4), "t": round(float(t), 4)}


def lift_block(
    lift: LiftSegments, bar: BarKinematics, force_model: str, phases_ms: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """The lift's own numbers, SI. Peak velocity and max height are the extremes of the smoothed
    series between lift-off and the end of the turnover."""
    t = bar.t
    off, top = lift.events["lift_off"], lift.events["max_height"]
    window = (t >= off) & (t <= top + 1e-9)
    if not window.any():
        window = np.ones(t.shape, bool)
    i_v = int(np.flatnonzero(window)[np.nanargmax(bar.vy[window])])
    i_h = int(np.flatnonzero(window)[np.nanargmax(bar.height[window])])
    catch = lift.events["catch"]
    return {
        "lift_off_t": round(off, 4),
        "lift_end_t": round(lift.events["lift_end"], 4),
        "peak_bar_velocity": _moment(t[i_v], bar.vy[i_v]),
        "max_bar_height": _moment(t[i_h], bar.height[i_h]),
        "catch_height": _moment(catch, float(np.interp(catch, t, bar.height))),
        "phase_durations": {
            name: round((span["end"] - span["start"]) / 1000.0, 3)
            for name, span in phases_ms.items()
        },
        "events": {name: round(v, 4) for name, v in lift.events.items()},
        "force_model": force_model,
        "units": {"length": "m", "velocity": "m/s", "time": "s"},
    }


def build_document(
    *,
    exercise: str,
    system: str,
    bar_mass_kg: float,
    body_mass_kg: float | None,
    joints: tuple[str, ...],
    bar: BarKinematics,
    body: BodyKinematics,
    body_angles_: BodySeries,
    bar_seen: NDArray[np.bool_],
    lift: LiftSegments,
    calibration: Calibration,
    facing: int,
    warnings: list[str],
    analysis: dict[str, Any],
) -> dict[str, Any]:
    """The session-data document; phase_data is filled in once the key frames are written."""
    near = near_measurement(bar.t, bar_seen)

    def bar_series(values: FloatArray, quantity: Quantity) -> list[float | None]:
        return convert_series(np.where(near, values, np.nan), quantity, system)

    power = bar_power(bar_mass_kg, bar.vy, bar.ay)
    grf, force_model = ground_reaction_force(
        bar_mass_kg, bar.ay, body_mass_kg, body.hip_acceleration
    )
    trajectory = bar.with_origin(lift.events["lift_off"]).horizontal
    chart = {
        name: {"start": round(start * 1000), "end": round(end * 1000)}
        for name, (start, end) in lift.phases.items()
    }
    angle = Quantity.ANGLE
    doc: dict[str, Any] = {
        "exercise": exercise,
        "document_version": DOCUMENT_VERSION,
        "timestamps": [round(float(x), 4) for x in bar.t],
        "key_metrics": {
            "power_output": bar_series(power, Quantity.POWER),
            "ground_reaction_force": bar_series(grf, Quantity.FORCE),
            "barbell_velocity": bar_series(bar.vy, Quantity.VELOCITY),
        },
        "body_positioning": {
            "hip_velocity": convert_series(body.hip_velocity, Quantity.VELOCITY, system),
            "shin_angle": convert_series(body_angles_.shin, angle, system),
            "hip_height": convert_series(body.hip_height, Quantity.LENGTH, system),
            "torso_angle": convert_series(body_angles_.torso, angle, system),
        },
        "joint_angles": {
            f"{j}_angle": convert_series(body_angles_.joints[j], angle, system) for j in joints
        },
        "barbell_positioning": {
            "bar_height": bar_series(bar.height, Quantity.LENGTH),
            "barbell_trajectory": bar_series(trajectory, Quantity.LENGTH),
            "vertical_shoulder_height": convert_series(
                body.shoulder_height, Quantity.LENGTH, system
            ),
        },
        "phase_data": {},
        "chart_data": chart,
        "units": units_block(system),
        "lift": lift_block(lift, bar, force_model, chart),
        "calibration": {**calibration.to_document(), "facing": "right" if facing > 0 else "left"},
        "warnings": list(dict.fromkeys(warnings)),
        "analysis": analysis,
    }
    path = path_displacements(Session.from_document(doc))
    if path is not None:
        doc["lift"]["bar_path"] = {
            "type": classify_bar_path(path),
            "early_forward": round(path.early_forward.value, 4),
            "rearward": round(path.rearward.value, 4),
            "forward": round(path.forward.value, 4),
            **({"catch": round(path.catch.value, 4)} if path.catch is not None else {}),
        }
    return doc


def keyframe_times(lift: LiftSegments) -> dict[str, float]:
    """Boundary event -> seconds, for the events this lift has (phase_data keys)."""
    return {e: lift.events[e] for e in BOUNDARY_EVENTS.values() if e in lift.events}
