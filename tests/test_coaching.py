"""Coaching rules engine: each rule fires exactly when its threshold is crossed, cites the right
numbers in the right units, and missing data never crashes it.

Documents are built from a few numbers by `build_document`: piecewise-linear series on a 50 Hz
grid whose knots sit on samples, so the built series hold the chosen numbers exactly (the bar
height is the exact integral of the velocity) and the expected values come from the same numbers.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.analysis.coaching import (
    METRIC_KEYS,
    SUMMARY_TOPICS,
    analysis_thread_messages,
    build_report,
    build_summary,
    summary_thread_messages,
)
from server.analysis.coaching import thresholds as th
from server.errors import InvalidInputError

FPS = 50.0
G = 9.80665
PLATE_RADIUS_M = 0.225
M_PER_IN, M_PER_FT, N_PER_LBF = 0.0254, 0.3048, 4.4482216152605


@dataclass(frozen=True)
class Lift:
    """A lift described by a few numbers (SI, degrees). Durations are multiples of 1/FPS."""

    exercise: str = "snatch"
    setup: float = 0.50
    first_pull: float = 0.50
    transition: float = 0.16
    second_pull: float = 0.12
    turnover: float = 0.20
    catch: float = 0.28
    recovery: float = 1.00
    v_knee: float = 1.10
    v_transition: float = 1.00
    peak_velocity: float = 1.85
    drop: float = 0.15
    elbow_min: float = 175.0
    hip_peak: float = 178.0
    knee_peak: float = 172.0
    early_forward: float = 0.0
    rear: float = -0.04
    forward: float = 0.02
    catch_x: float = -0.01
    bar_mass: float = 60.0
    stand_up: float = 0.9  # m the bar rises from the catch to standing with it overhead

    @property
    def events(self) -> list[float]:
        """Lift-off, end of first pull, transition, second pull, turnover, catch, recovery (s)."""
        durations = [
            self.first_pull,
            self.transition,
            self.second_pull,
            self.turnover,
            self.catch,
            self.recovery,
        ]
        return list(np.cumsum([self.setup, *durations]))

    @property
    def max_height(self) -> float:
        """Plate radius + the area under the piecewise-linear velocity up to the highest point."""
        return PLATE_RADIUS_M + 0.5 * (
            self.v_knee * self.first_pull
            + (self.v_knee + self.v_transition) * self.transition
            + (self.v_transition + self.peak_velocity) * self.second_pull
            + self.peak_velocity * self.turnover
        )


PHASES = ("setup", "first_pull", "transition", "second_pull", "turnover", "catch", "recovery")


def _curve(t: np.ndarray, knots: list[tuple[float, float]]) -> np.ndarray:
    for k, _ in knots:
        assert abs(k * FPS - round(k * FPS)) < 1e-6, f"knot {k} s is not on the {FPS} Hz grid"
    xs, ys = zip(*knots, strict=True)
    return np.interp(t, xs, ys)


def _series(lift: Lift) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Timestamps (s) and every series in SI, from the lift's numbers."""
    t0, t1, t2, t3, t4, t5, t6 = lift.events
    end = t6 + 0.5
    t = np.arange(0.0, end + 1e-9, 1.0 / FPS)
    mid_catch, mid_rec = (t4 + t5) / 2, (t5 + t6) / 2
    v = _curve(
        t,
        [
            (0, 0),
            (t0, 0),
            (t1, lift.v_knee),
            (t2, lift.v_transition),
            (t3, lift.peak_velocity),
            (t4, 0),
            (mid_catch, -2 * lift.drop / lift.catch),
            (t5, 0),
            (mid_rec, 2 * lift.stand_up / lift.recovery),
            (t6, 0),
            (end, 0),
        ],
    )
    height = PLATE_RADIUS_M + np.concatenate([[0.0], np.cumsum((v[1:] + v[:-1]) / 2 / FPS)])
    acc = np.gradient(v, t)
    force = lift.bar_mass * (G + acc)
    step = 1.0 / FPS
    hip_h = _curve(
        t,
        [
            (0, 0.55),
            (t0, 0.55),
            (t1, 0.8),
            (t2, 0.85),
            (t3, 1.0),
            (t5, 0.35),
            (t6, 0.95),
            (end, 0.95),
        ],
    )
    return t, {
        "power_output": force * v,
        "ground_reaction_force": force,
        "barbell_velocity": v,
        "hip_velocity": np.gradient(hip_h, t),
        "shin_angle": _curve(
            t, [(0, 65), (t0, 65), (t1, 85), (t2, 75), (t3, 85), (t5, 50), (t6, 88), (end, 88)]
        ),
        "hip_height": hip_h,
        "torso_angle": _curve(
            t, [(0, 35), (t0, 35), (t1, 35), (t2, 60), (t3, 95), (t5, 75), (t6, 90), (end, 90)]
        ),
        "hip_angle": _curve(
            t,
            [
                (0, 55),
                (t0, 55),
                (t1, 110),
                (t2, 140),
                (t3 - step, lift.hip_peak),
                (t3 + step, lift.hip_peak),
                (t4, 120),
                (t5, 50),
                (t6, 175),
                (end, 175),
            ],
        ),
        "knee_angle": _curve(
            t,
            [
                (0, 80),
                (t0, 80),
                (t1, 150),
                (t2, 135),
                (t3 - step, lift.knee_peak),
                (t3 + step, lift.knee_peak),
                (t4, 100),
                (t5, 45),
                (t6, 175),
                (end, 175),
            ],
        ),
        # Arms bend hard in the turnover (pulling under): outside the early-arm-bend window.
        "elbow_angle": _curve(
            t,
            [
                (0, 178),
                (t0, 178),
                (t1, lift.elbow_min),
                (t2, lift.elbow_min),
                (t3, 178),
                (t3 + 0.1, 90),
                (t5, 178),
                (end, 178),
            ],
        ),
        "bar_height": height,
        "barbell_trajectory": _curve(
            t,
            [
                (0, 0),
                (t0, 0),
                (t0 + 0.3, lift.early_forward),
                (t2, lift.rear),
                (t3 + 0.1, lift.forward),
                (t5, lift.catch_x),
                (end, lift.catch_x),
            ],
        ),
        "vertical_shoulder_height": _curve(
            t, [(0, 0.95), (t0, 0.95), (t1, 1.2), (t3, 1.5), (t5, 0.85), (t6, 1.45), (end, 1.45)]
        ),
    }


# Document units per series and system (DESIGN.md): SI value / factor = document value.
_DOC_FACTOR = {
    "metric": {"length": 0.001, "velocity": 1.0, "force": 1.0},
    "imperial": {"length": M_PER_IN, "velocity": M_PER_FT, "force": N_PER_LBF},
}
_KIND = {
    "power_output": "power",
    "ground_reaction_force": "force",
    "barbell_velocity": "velocity",
    "hip_velocity": "velocity",
    "hip_height": "length",
    "bar_height": "length",
    "barbell_trajectory": "length",
    "vertical_shoulder_height": "length",
}
_GROUP = {
    "power_output": "key_metrics",
    "ground_reaction_force": "key_metrics",
    "barbell_velocity": "key_metrics",
    "hip_velocity": "body_positioning",
    "shin_angle": "body_positioning",
    "hip_height": "body_positioning",
    "torso_angle": "body_positioning",
    "hip_angle": "joint_angles",
    "knee_angle": "joint_angles",
    "elbow_angle": "joint_angles",
    "bar_height": "barbell_positioning",
    "barbell_trajectory": "barbell_positioning",
    "vertical_shoulder_height": "barbell_positioning",
}


_UNITS_BLOCK = {
    "metric": {
        "system": "metric",
        "length": "mm",
        "velocity": "m/s",
        "force": "N",
        "power": "W",
        "mass": "kg",
        "angle": "degrees",
        "time": "s",
    },
    "imperial": {
        "system": "imperial",
        "length": "in",
        "velocity": "ft/s",
        "force": "lbf",
        "power": "W",
        "mass": "lb",
        "angle": "degrees",
        "time": "s",
    },
}


def build_document(
    lift: Lift = Lift(),
    units: str = "metric",
    *,
    lift_block: bool = True,
    bar_path_type: str | None = None,
    without: tuple[str, ...] = (),
    system_only: bool = False,
) -> dict[str, Any]:
    """A session-data document (as the analysis stage writes it) for `lift`, in `units`.

    The units block names the system and each quantity's unit, as server/analysis/units.py
    writes it; system_only leaves only the system name.
    """
    t, series = _series(lift)
    doc: dict[str, Any] = {
        "exercise": lift.exercise,
        "timestamps": [round(float(x), 6) for x in t],
        "key_metrics": {},
        "body_positioning": {},
        "joint_angles": {},
        "barbell_positioning": {},
        "units": {"system": units} if system_only else _UNITS_BLOCK[units],
        "warnings": [],
        "calibration": {"method": "plate", "plate_diameter_m": 0.45},
        "session_date": "18/05/2025",
    }
    for name, values in series.items():
        if name in without:
            continue
        factor = _DOC_FACTOR[units].get(_KIND.get(name, "angle"), 1.0)
        doc[_GROUP[name]][name] = [float(x) for x in values / factor]
    events = lift.events
    starts = [0.0, *events[:-1]]
    doc["chart_data"] = {
        p: {"start": round(a * 1000), "end": round(b * 1000)}
        for p, a, b in zip(PHASES, starts, events, strict=True)
    }
    if lift_block:
        path: dict[str, Any] = {"rearward_m": lift.rear, "forward_m": lift.forward}
        if bar_path_type is not None:
            path["type"] = bar_path_type
        doc["lift"] = {
            "peak_bar_velocity": {"value": lift.peak_velocity, "t": events[3]},
            "max_bar_height": {"value": lift.max_height, "t": events[4]},
            "phase_durations": {p: b - a for p, a, b in zip(PHASES, starts, events, strict=True)},
            "bar_path": path,
            "force_model": "bar_only",
        }
    return doc


def finding(report: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["id"] == rule_id)


def number(f: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in f["numbers"] if n["name"] == name)


# ---------------------------------------------------------------- a good lift, and the builder


def test_builder_series_hold_the_chosen_numbers() -> None:
    lift = Lift()
    t, s = _series(lift)
    assert s["barbell_velocity"].max() == pytest.approx(lift.peak_velocity)
    pull = (t >= lift.events[0] - 1e-9) & (t <= lift.events[5] + 1e-9)
    assert s["bar_height"][pull].max() == pytest.approx(lift.max_height, abs=1e-9)
    # Standing up with the bar overhead lifts it above the pull's highest point: the rules must
    # look for the highest point in the pull, not in the whole clip.
    assert s["bar_height"].max() > lift.max_height + 0.5
    catch = (t >= lift.events[4] - 1e-9) & (t <= lift.events[5] + 1e-9)
    assert lift.max_height - s["bar_height"][catch].min() == pytest.approx(lift.drop, abs=1e-9)


def test_good_lift_has_no_warnings_and_every_rule_judged() -> None:
    report = build_report(build_document(), "metric")
    assert report["verdict"]["rating"] == "good"
    severities = {f["id"]: f["severity"] for f in report["findings"]}
    assert "warning" not in severities.values(), severities
    assert "not_judged" not in severities.values(), severities
    assert severities["bar_path_type"] == "info"
    assert report["counts"]["warning"] == 0
    assert json.loads(json.dumps(report)) == report  # plain JSON, no numpy scalars


# ------------------------------------------------------- each rule fires exactly at its threshold


@pytest.mark.parametrize(
    ("rule_id", "field", "passing", "failing"),
    [
        ("early_arm_bend", "elbow_min", 161.0, 159.0),
        ("incomplete_extension", "hip_peak", 171.0, 169.0),
        ("incomplete_extension", "knee_peak", 166.0, 164.0),
        ("bar_loop_away", "forward", 0.049, 0.051),
        ("slow_turnover", "turnover", 0.30, 0.32),
        ("catch_crash", "drop", 0.24, 0.26),
        ("phase_timing.first_pull", "first_pull", 0.70, 0.72),
        ("phase_timing.first_pull", "first_pull", 0.36, 0.34),
        ("phase_timing.transition", "transition", 0.24, 0.26),
        ("phase_timing.second_pull", "second_pull", 0.22, 0.24),
        ("phase_timing.second_pull", "second_pull", 0.08, 0.06),
        ("peak_velocity", "peak_velocity", 1.52, 1.48),
    ],
)
def test_rule_fires_exactly_when_threshold_crossed(
    rule_id: str, field: str, passing: float, failing: float
) -> None:
    ok = finding(
        build_report(build_document(replace(Lift(), **{field: passing})), "metric"), rule_id
    )
    bad = finding(
        build_report(build_document(replace(Lift(), **{field: failing})), "metric"), rule_id
    )
    assert ok["severity"] == "ok", ok
    assert bad["severity"] == "warning", bad
    assert bad["advice"] and bad["advice"] in bad["text"]
    others = build_report(build_document(replace(Lift(), **{field: failing})), "metric")
    fired = {f["id"] for f in others["findings"] if f["severity"] == "warning"}
    assert fired == {rule_id}, f"{field}={failing} also fired {fired - {rule_id}}"


def test_early_arm_bend_cites_angle_threshold_and_phase() -> None:
    lift = replace(Lift(), elbow_min=148.0)
    f = finding(build_report(build_document(lift), "imperial"), "early_arm_bend")
    n = number(f, "elbow_min")
    assert (n["value"], n["unit"], n["threshold"]) == (148.0, "degrees", 160.0)
    assert f["phase"] in ("first_pull", "transition")
    assert lift.events[0] <= f["t_s"] <= lift.events[2]
    assert "148°" in f["text"] and "160°" in f["text"]


def test_elbow_bend_in_the_turnover_is_not_an_early_arm_bend() -> None:
    # The builder bends the elbows to 90 deg in the turnover: pulling under is not a fault.
    f = finding(build_report(build_document(), "metric"), "early_arm_bend")
    assert f["severity"] == "ok"
    assert number(f, "elbow_min")["value"] == 175.0


def test_incomplete_extension_cites_both_joints_at_peak_velocity() -> None:
    lift = replace(Lift(), hip_peak=160.0, knee_peak=168.0)
    f = finding(build_report(build_document(lift), "metric"), "incomplete_extension")
    assert f["severity"] == "warning"
    assert (number(f, "hip_max")["value"], number(f, "hip_max")["threshold"]) == (160.0, 170.0)
    assert (number(f, "knee_max")["value"], number(f, "knee_max")["threshold"]) == (168.0, 165.0)
    assert f["t_s"] == pytest.approx(lift.events[3])
    assert "160°" in f["text"] and "168°" in f["text"]


@pytest.mark.parametrize(
    ("units", "unit", "scale"), [("metric", "mm", 1000.0), ("imperial", "in", 1 / M_PER_IN)]
)
def test_bar_loop_cites_displacement_in_requested_units(
    units: str, unit: str, scale: float
) -> None:
    lift = replace(Lift(), forward=0.08)
    f = finding(build_report(build_document(lift), units), "bar_loop_away")
    n = number(f, "forward")
    assert f["severity"] == "warning"
    assert n["unit"] == unit
    assert n["value"] == pytest.approx(0.08 * scale, abs=0.051)
    assert n["threshold"] == pytest.approx(th.LOOP_FORWARD.value * scale, abs=0.051)
    assert f"{n['value']:,.{0 if unit == 'mm' else 1}f} {unit}" in f["text"]
    assert f["t_s"] == pytest.approx(lift.events[3] + 0.1)


@pytest.mark.parametrize(
    ("units", "unit", "scale"), [("metric", "mm", 1000.0), ("imperial", "in", 1 / M_PER_IN)]
)
def test_catch_crash_cites_drop_and_heights(units: str, unit: str, scale: float) -> None:
    lift = replace(Lift(), drop=0.30)
    f = finding(build_report(build_document(lift), units), "catch_crash")
    assert f["severity"] == "warning"
    assert number(f, "drop")["value"] == pytest.approx(0.30 * scale, abs=0.051)
    assert number(f, "drop")["unit"] == unit
    assert number(f, "max_height")["value"] == pytest.approx(lift.max_height * scale, abs=0.051)
    low = lift.max_height - 0.30
    assert number(f, "catch_height")["value"] == pytest.approx(low * scale, abs=0.051)
    # The bar's downward speed in the catch: the triangle's peak, 2 * drop / catch duration.
    speed = number(f, "fall_speed")
    fall = 2 * 0.30 / lift.catch
    assert speed["value"] == pytest.approx(
        fall if units == "metric" else fall / M_PER_FT, abs=0.006
    )
    assert speed["unit"] == ("m/s" if units == "metric" else "ft/s")
    assert f["phase"] == "catch"


def test_slow_turnover_cites_duration_and_ballistic_reference() -> None:
    lift = replace(Lift(), turnover=0.36)
    f = finding(build_report(build_document(lift), "metric"), "slow_turnover")
    assert f["severity"] == "warning"
    assert number(f, "turnover")["value"] == pytest.approx(0.36)
    assert number(f, "turnover")["threshold"] == th.PHASE_RANGES["snatch"]["turnover"].high
    assert number(f, "ballistic")["value"] == pytest.approx(round(lift.peak_velocity / G, 2))
    assert f["phase"] == "turnover" and f["t_s"] == pytest.approx(lift.events[3])


def test_clean_uses_clean_references() -> None:
    # 1.35 m/s is slow for a snatch but normal for a clean.
    lift = replace(Lift(), peak_velocity=1.35)
    snatch = finding(build_report(build_document(lift), "metric"), "peak_velocity")
    clean = finding(
        build_report(build_document(replace(lift, exercise="clean")), "metric"), "peak_velocity"
    )
    cj = finding(
        build_report(build_document(replace(lift, exercise="clean_and_jerk")), "metric"),
        "peak_velocity",
    )
    assert snatch["severity"] == "warning" and clean["severity"] == "ok" == cj["severity"]
    assert number(clean, "peak")["reference_range"] == [1.2, 1.7]


def test_fast_bar_is_an_observation_not_a_fault() -> None:
    f = finding(
        build_report(build_document(replace(Lift(), peak_velocity=2.3)), "metric"), "peak_velocity"
    )
    assert f["severity"] == "info"
    assert number(f, "peak")["value"] == 2.3


def test_phase_timing_cites_duration_and_range() -> None:
    lift = replace(Lift(), transition=0.30)
    f = finding(build_report(build_document(lift), "metric"), "phase_timing.transition")
    n = number(f, "duration")
    assert (n["value"], n["unit"], n["reference_range"]) == (0.3, "s", [0.08, 0.25])
    assert f["phase"] == "transition" and f["t_s"] == pytest.approx(lift.events[1])
    assert "0.30 s" in f["text"] and "longer" in f["text"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"forward": -0.01}, "2"), ({}, "1"), ({"early_forward": 0.02}, "3")],
)
def test_bar_path_type_classified_from_displacements(
    changes: dict[str, float], expected: str
) -> None:
    lift = replace(Lift(), **changes)
    f = finding(build_report(build_document(lift, lift_block=False), "metric"), "bar_path_type")
    assert f["severity"] == "info"
    assert f"type {expected}" in f["text"]
    assert number(f, "rearward")["value"] == pytest.approx(lift.rear * 1000)
    assert number(f, "forward")["value"] == pytest.approx(lift.forward * 1000)


def test_bar_path_type_from_the_analysis_wins() -> None:
    doc = build_document(Lift(), bar_path_type="type_3")
    f = finding(build_report(doc, "metric"), "bar_path_type")
    assert "type 3" in f["text"] and "from the analysis" in f["text"]


def test_report_without_lift_block_matches_report_with_it() -> None:
    with_block = build_report(build_document(), "metric")
    without = build_report(build_document(lift_block=False), "metric")
    for rule in ("peak_velocity", "catch_crash", "slow_turnover", "incomplete_extension"):
        a, b = finding(with_block, rule), finding(without, rule)
        assert a["severity"] == b["severity"]
        assert [n["value"] for n in a["numbers"]] == [n["value"] for n in b["numbers"]], rule


# ----------------------------------------------------------------------- units and conversion


def test_imperial_report_converts_every_number() -> None:
    lift = replace(Lift(), drop=0.30, forward=0.08)
    metric = build_report(build_document(lift), "metric")
    imperial = build_report(build_document(lift), "imperial")
    factors = {
        ("mm", "in"): 0.001 / M_PER_IN,
        ("m/s", "ft/s"): 1 / M_PER_FT,
        ("N", "lbf"): 1 / N_PER_LBF,
        ("W", "W"): 1.0,
        ("degrees", "degrees"): 1.0,
        ("s", "s"): 1.0,
    }
    step = {
        "mm": 1.0,
        "in": 0.1,
        "m/s": 0.01,
        "ft/s": 0.01,
        "N": 1.0,
        "lbf": 1.0,
        "W": 1.0,
        "degrees": 1.0,
        "s": 0.01,
    }
    pairs = list(zip(metric["key_numbers"], imperial["key_numbers"], strict=True))
    for fm, fi in zip(metric["findings"], imperial["findings"], strict=True):
        pairs += list(zip(fm["numbers"], fi["numbers"], strict=True))
    assert {(m["unit"], i["unit"]) for m, i in pairs} >= {
        ("mm", "in"),
        ("m/s", "ft/s"),
        ("N", "lbf"),
        ("degrees", "degrees"),
    }
    for m, i in pairs:
        factor = factors[(m["unit"], i["unit"])]
        # Both sides are rounded for display: allow half a display step on each.
        tolerance = 0.5 * step[i["unit"]] + 0.5 * step[m["unit"]] * factor + 1e-9
        assert i["value"] == pytest.approx(m["value"] * factor, abs=tolerance), (m, i)


@pytest.mark.parametrize("system_only", [False, True])
def test_imperial_document_reads_back_to_the_same_report(system_only: bool) -> None:
    lift = replace(Lift(), drop=0.30, elbow_min=150.0)
    from_metric = build_report(build_document(lift, "metric"), "metric")
    doc = build_document(lift, "imperial", system_only=system_only)
    assert doc["barbell_positioning"]["bar_height"][0] == pytest.approx(PLATE_RADIUS_M / M_PER_IN)
    from_imperial = build_report(doc, "metric")
    assert from_imperial["findings"] == from_metric["findings"]
    assert from_imperial["key_numbers"] == from_metric["key_numbers"]


def test_peak_force_in_lbf() -> None:
    lift = Lift()
    _, s = _series(lift)
    report = build_report(build_document(lift), "imperial")
    force = next(n for n in report["key_numbers"] if n["name"] == "peak_force")
    assert force["unit"] == "lbf"
    t0, t4 = lift.events[0], lift.events[4]
    t, _ = _series(lift)
    pull = (t >= t0 - 1e-9) & (t <= t4 + 1e-9)
    assert force["value"] == round(s["ground_reaction_force"][pull].max() / N_PER_LBF)


def test_unknown_units_is_a_named_error() -> None:
    with pytest.raises(InvalidInputError, match="furlongs"):
        build_report(build_document(), "furlongs")
    with pytest.raises(InvalidInputError, match="furlongs"):
        analysis_thread_messages(build_document(), "furlongs")


# ----------------------------------------------------------------------------- thread messages


@pytest.mark.parametrize("units", ["metric", "imperial"])
def test_every_metric_gets_a_message_citing_numbers(units: str) -> None:
    lift = Lift()
    messages = analysis_thread_messages(build_document(lift), units)
    assert list(messages) == list(METRIC_KEYS) and len(messages) == 12
    length, speed = ("mm", "m/s") if units == "metric" else ("in", "ft/s")
    for key, text in messages.items():
        assert text and not text.startswith("Not enough data"), (key, text)
        assert any(ch.isdigit() for ch in text), (key, text)
    scale = 1000 if units == "metric" else 1 / M_PER_IN
    top = f"{lift.max_height * scale:,.{0 if units == 'metric' else 1}f} {length}"
    assert top in messages["bar_height"]
    assert (
        f"{lift.peak_velocity / (1 if units == 'metric' else M_PER_FT):.2f} {speed}"
        in (messages["barbell_velocity"])
    )
    assert ("lbf" if units == "imperial" else " N") in messages["ground_reaction_force"]
    assert " W" in messages["power_output"]
    assert "type 1" in messages["barbell_trajectory"]
    assert "Bar term only" in messages["ground_reaction_force"]
    assert f"{lift.hip_peak:.0f}°" in messages["hip_angle"]


def test_missing_pose_gives_not_enough_data_and_not_judged() -> None:
    body = (
        "hip_velocity",
        "shin_angle",
        "hip_height",
        "torso_angle",
        "hip_angle",
        "knee_angle",
        "elbow_angle",
        "vertical_shoulder_height",
    )
    doc = build_document(without=body)
    messages = analysis_thread_messages(doc, "metric")
    for key in body:
        if key in messages:
            assert messages[key].startswith("Not enough data"), messages[key]
    assert "no pose" in messages["hip_angle"]
    report = build_report(doc, "metric")
    for rule in ("early_arm_bend", "incomplete_extension"):
        f = finding(report, rule)
        assert f["severity"] == "not_judged" and f["text"].startswith("Could not judge")
        assert "pose" in f["text"]
    assert finding(report, "catch_crash")["severity"] == "ok"  # bar rules still judged
    assert "early arm bend" in report["verdict"]["text"]


def test_all_null_and_single_value_series_are_not_enough_data() -> None:
    doc = build_document()
    n = len(doc["timestamps"])
    doc["joint_angles"]["hip_angle"] = [None] * n
    doc["joint_angles"]["knee_angle"] = [None] * (n - 1) + [120.0]
    messages = analysis_thread_messages(doc, "metric")
    assert messages["hip_angle"].startswith("Not enough data")
    assert messages["knee_angle"] == (
        f"Not enough data for knee angle: only 1 of {n} frames have a value."
    )
    f = finding(build_report(doc, "metric"), "incomplete_extension")
    assert f["severity"] == "not_judged"


def test_seed_example_document_does_not_crash() -> None:
    # The seed's example: no timestamps, series of different lengths, two phases only.
    seed = {
        "exercise": "snatch",
        "key_metrics": {
            "power_output": [2350, 2425, 2510, 2600, 2705],
            "ground_reaction_force": [1120, 1180, 1215, 1260, 1300],
            "barbell_velocity": [0.90, 1.05, 1.28, 1.55, 2.02],
        },
        "body_positioning": {
            "hip_velocity": [0.45, 0.52, 0.60],
            "shin_angle": [75.0, 72.5, 70.2],
            "hip_height": [450, 455, 468],
            "torso_angle": [40.0, 38.5, 36.8],
        },
        "joint_angles": {"hip_angle": [165, 159, 152], "knee_angle": [155, 147, 138]},
        "barbell_positioning": {
            "bar_height": [120, 385, 610],
            "barbell_trajectory": [0, -8, -2],
            "vertical_shoulder_height": [1380, 1400, 1440],
        },
        "chart_data": {"setup": {"start": 0, "end": 536}, "first_pull": {"start": 536, "end": 952}},
        "user_information": {
            "display_name": "Ahror Jabborov",
            "age": 28,
            "weight": 75,
            "height": 178,
        },
        "session_date": "18/05/2025",
        "comments": {},
    }
    report = build_report(seed, "imperial")
    assert number(finding(report, "peak_velocity"), "peak")["value"] == round(2.02 / M_PER_FT, 2)
    messages = analysis_thread_messages(seed, "metric")
    assert "610 mm" in messages["bar_height"]
    summary = build_summary(seed, "metric", None)
    assert summary["session_date"] == "18/05/2025"
    assert summary["lifter"]["display_name"] == "Ahror Jabborov"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_documents_never_crash(data: st.DataObject) -> None:
    doc = copy.deepcopy(_BASE_DOC)
    junk = st.one_of(
        st.none(),
        st.text(max_size=3),
        st.integers(),
        st.floats(),
        st.lists(st.one_of(st.none(), st.floats(), st.text(max_size=2)), max_size=5),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
    for key in data.draw(st.lists(st.sampled_from(sorted(doc)), max_size=4)):
        doc[key] = data.draw(junk)
    group = data.draw(st.sampled_from(["key_metrics", "joint_angles", "barbell_positioning"]))
    if isinstance(doc.get(group), dict) and doc[group]:
        name = data.draw(st.sampled_from(sorted(doc[group])))
        doc[group][name] = data.draw(junk)
    units = data.draw(st.sampled_from(["metric", "imperial"]))
    report = build_report(doc, units)
    assert report["verdict"]["rating"] in ("good", "fair", "needs_work", "insufficient_data")
    assert set(analysis_thread_messages(doc, units)) == set(METRIC_KEYS)
    assert set(summary_thread_messages(doc, units)) == set(SUMMARY_TOPICS)
    build_summary(doc, units, None)


_BASE_DOC = build_document(replace(Lift(), elbow_min=150.0, drop=0.3))


def test_empty_document_is_insufficient_data() -> None:
    report = build_report({}, "metric")
    assert report["verdict"]["rating"] == "insufficient_data"
    messages = analysis_thread_messages({}, "metric")
    assert all(m.startswith("Not enough data") for m in messages.values())
    with pytest.raises(InvalidInputError):
        build_report([], "metric")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ summary


def test_summary_lists_strengths_and_things_to_work_on() -> None:
    lift = replace(Lift(), elbow_min=150.0, forward=0.09, drop=0.3)
    user = {"display_name": "Ana", "weight": 63, "height": 165}
    summary = build_summary(build_document(lift), "imperial", user)
    assert summary["exercise"] == "snatch" and summary["session_date"] == "18/05/2025"
    assert summary["lifter"] == user
    work = {w["id"] for w in summary["things_to_work_on"]}
    assert work == {"early_arm_bend", "bar_loop_away", "catch_crash"}
    strengths = {s["id"] for s in summary["strengths"]}
    assert {"incomplete_extension", "slow_turnover", "peak_velocity"} <= strengths
    assert not work & strengths
    assert summary["verdict"]["rating"] == "needs_work"
    numbers = {n["name"]: n for n in summary["key_numbers"]}
    assert numbers["max_bar_height"]["unit"] == "in"
    assert numbers["max_bar_height"]["value"] == round(lift.max_height / M_PER_IN, 1)
    assert summary["text"].startswith("Ana's snatch:")


def test_summary_threads_one_per_topic_in_requested_units() -> None:
    lift = replace(Lift(), elbow_min=150.0)
    threads = summary_thread_messages(build_document(lift), "imperial")
    assert list(threads) == list(SUMMARY_TOPICS)
    assert all(threads.values())
    assert "ft/s" in threads["key_numbers"] and " in" in threads["key_numbers"]
    assert "Early arm bend" in threads["areas_to_improve"]
    assert "straight arms" in threads["next_steps"]
    assert "first pull 0.50 s (reference 0.35 s to 0.70 s)" in threads["phase_timing"]


def test_every_threshold_is_documented() -> None:
    doc = th.__doc__ or ""
    for threshold in (
        th.ELBOW_BEND,
        th.HIP_EXTENSION,
        th.KNEE_EXTENSION,
        th.LOOP_FORWARD,
        th.DROP_MAX,
    ):
        assert f"| {threshold.key} |" in doc and threshold.source
    for phase in ("first_pull", "transition", "second_pull", "turnover"):
        assert f"| {phase} |" in doc


# ------------------------------------------- bar-only documents from the synthetic trajectories


def _trajectory_document(traj: Any, fps: float = 30.0, snap: bool = False) -> dict[str, Any]:
    """Bar series (metric document, no pose, no lift block) sampled from an exact trajectory.

    Phase boundaries are the exact event times (between frames, as refined events are), or
    with snap=True the nearest frame times.
    """
    t = np.arange(0.0, traj.duration, 1.0 / fps)
    pos, vel = traj.position(t), traj.velocity(t)
    ev = {k: round(v * fps) / fps if snap else v for k, v in traj.events.items()}
    bounds = [
        0.0,
        ev["lift_off"],
        ev["first_pull_end"],
        ev["transition_end"],
        ev["peak_velocity"],
        ev["max_height"],
        ev["catch"],
        ev["recovery_end"],
    ]
    return {
        "exercise": traj.exercise,
        "timestamps": t.tolist(),
        "units": _UNITS_BLOCK["metric"],
        "key_metrics": {"barbell_velocity": vel[:, 1].tolist()},
        "barbell_positioning": {
            "bar_height": (pos[:, 1] * 1000).tolist(),
            "barbell_trajectory": (pos[:, 0] * 1000).tolist(),
        },
        "chart_data": {
            p: {"start": round(a * 1000), "end": round(b * 1000)}
            for p, a, b in zip(PHASES, bounds[:-1], bounds[1:], strict=True)
        },
    }


@pytest.mark.parametrize("snap", [False, True])
@pytest.mark.parametrize("exercise", ["snatch", "clean"])
@pytest.mark.parametrize("path", ["type_1", "type_2", "type_3"])
def test_synthetic_trajectory_is_judged_from_the_bar_alone(
    exercise: str, path: str, snap: bool
) -> None:
    from server.synth.trajectory import make_trajectory

    traj = make_trajectory(exercise, seed=3, bar_path=path)
    report = build_report(_trajectory_document(traj, snap=snap), "metric")
    kinds = {f["id"]: f for f in report["findings"]}
    # The fallback classifier agrees with the type the trajectory was built as.
    assert f"type {path[-1]}" in kinds["bar_path_type"]["text"]
    peak = number(kinds["peak_velocity"], "peak")
    # Sampled at 30 fps the series peak sits within a frame of the exact one: within 1%.
    assert peak["value"] == pytest.approx(traj.params["peak_velocity"], rel=0.01)
    crash = kinds["catch_crash"]
    assert number(crash, "max_height")["value"] == pytest.approx(
        traj.params["max_height"] * 1000, abs=3.0
    )
    assert number(crash, "drop")["value"] == pytest.approx(
        traj.params["catch_drop"] * 1000, abs=3.0
    )
    assert crash["severity"] == "ok"  # generated drops are 0.10-0.24 m
    for rule in ("early_arm_bend", "incomplete_extension"):
        assert kinds[rule]["severity"] == "not_judged"


def test_synthetic_deep_drop_crashes() -> None:
    from server.synth.trajectory import make_trajectory

    traj = make_trajectory("snatch", seed=1, catch_drop=0.32)
    doc = _trajectory_document(traj)
    doc["lift"] = {"force_model": "bar_only"}
    report = build_report(doc, "imperial")
    assert report["force_model"] == "bar_only"
    crash = finding(report, "catch_crash")
    assert crash["severity"] == "warning"
    assert number(crash, "drop")["value"] == pytest.approx(0.32 / M_PER_IN, abs=0.15)
