"""The landmark plausibility gate, on made-up poses with a 100 px torso."""

from __future__ import annotations

import numpy as np
import pytest

from server.pose.gate import MAX_SPEED, SLACK, JumpGate, torso_length
from server.pose.types import (
    LEFT_HIP,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NUM_LANDMARKS,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    PoseFrame,
    Roi,
)

DT = 1 / 30


def pose(
    shift: tuple[float, float] = (0.0, 0.0), wrist: tuple[float, float] | None = None
) -> PoseFrame:
    """A standing figure: shoulders at y=100, hips at y=200 (torso 100 px), moved by `shift`."""
    points = np.full((NUM_LANDMARKS, 2), 150.0, np.float32)
    points[[LEFT_SHOULDER, RIGHT_SHOULDER], 1] = 100.0
    points[[LEFT_HIP, RIGHT_HIP], 1] = 200.0
    points += np.asarray(shift, np.float32)
    if wrist is not None:
        points[LEFT_WRIST] = wrist
    return PoseFrame(
        keypoints=points,
        depth=np.zeros(NUM_LANDMARKS, np.float32),
        visibility=np.full(NUM_LANDMARKS, 0.9, np.float32),
        presence=0.99,
        world=np.zeros((NUM_LANDMARKS, 3), np.float32),
        roi=Roi(center=np.array([150.0, 150.0], np.float32), size=300.0, rotation=0.0),
    )


def test_torso_length() -> None:
    assert torso_length(pose().keypoints) == pytest.approx(100.0)


def test_still_and_moving_within_the_bound_pass_unchanged() -> None:
    gate = JumpGate()
    per_frame = (MAX_SPEED * DT + SLACK) * 100 * 0.9  # just inside the bound
    for i in range(10):
        p = pose((i * per_frame, 0.0))
        assert gate.apply(p, i * DT) is p
    assert gate.hidden == 0


def test_single_frame_spike_is_hidden_then_the_track_continues() -> None:
    gate = JumpGate()
    gate.apply(pose(wrist=(150, 150)), 0.0)
    spiked = gate.apply(pose(wrist=(250, 150)), DT)  # 1 torso in 1/30 s: 30 torso/s
    assert spiked is not None
    assert spiked.visibility[LEFT_WRIST] == 0.0
    assert np.delete(spiked.visibility, LEFT_WRIST) == pytest.approx(0.9)
    back = gate.apply(pose(wrist=(152, 150)), 2 * DT)
    assert back is not None and back.visibility[LEFT_WRIST] == pytest.approx(0.9)
    assert gate.hidden == 1


def test_a_real_move_confirmed_by_the_next_frame_costs_one_frame() -> None:
    gate = JumpGate()
    gate.apply(pose(), 0.0)
    first = gate.apply(pose((80, 0)), DT)  # the whole body moved 0.8 torso (a new placement)
    assert first is not None and (first.visibility == 0).all()
    second = gate.apply(pose((81, 0)), 2 * DT)
    assert second is not None and (second.visibility > 0.5).all()
    third = gate.apply(pose((82, 0)), 3 * DT)
    assert third is not None and (third.visibility > 0.5).all()


def test_the_bound_grows_with_elapsed_time() -> None:
    gate = JumpGate()
    gate.apply(pose(), 0.0)
    # 0.8 torso after 0.1 s (8 torso/s) is a plausible move even though it is one call later
    later = gate.apply(pose((80, 0)), 0.1)
    assert later is not None and (later.visibility > 0.5).all()


def test_none_passes_and_reset_forgets() -> None:
    gate = JumpGate()
    assert gate.apply(None, 0.0) is None
    gate.apply(pose(), 0.0)
    gate.reset()
    moved = gate.apply(pose((300, 0)), DT)
    assert moved is not None and (moved.visibility > 0.5).all()


def test_wrists_far_from_a_lifted_bar_are_hidden() -> None:
    from server.analysis.measure import hands_on_bar

    p = pose(wrist=(150, 150))  # left wrist at the plate centre below; the right wrist at (150,150)
    center, radius = np.array([150.0, 160.0]), 40.0
    assert hands_on_bar(p, center, radius, lifted=True) is p  # both within 1.5 radii
    off = pose(wrist=(300, 300))
    hidden = hands_on_bar(off, center, radius, lifted=True)
    assert hidden is not None and hidden.visibility[LEFT_WRIST] == 0.0
    assert hidden.visibility[LEFT_SHOULDER] == pytest.approx(0.9)
    # on the floor the hands may be off the bar (walking up, chalking): nothing is hidden
    assert hands_on_bar(off, center, radius, lifted=False) is off
    assert hands_on_bar(off, np.array([np.nan, np.nan]), radius, lifted=True) is off


def test_a_bar_well_above_the_feet_is_off_the_floor() -> None:
    """A bar walked out of a rack is in the hands though it never rose above where it was first
    seen: its plate well above the ankles says so. A plate on the floor (centre one radius up,
    the ankles a third of one) does not."""
    from server.analysis.measure import ABOVE_FEET_RADII, above_feet
    from server.pose.types import LEFT_ANKLE, LEFT_HEEL, RIGHT_ANKLE, RIGHT_HEEL
    from server.tracking.plate import RimFit

    def plate(y: float, radius: float = 40.0) -> RimFit:
        return RimFit(np.array([150.0, y]), radius, 0.9, 0.5, 60.0, 0.9)

    standing = pose()
    feet = [LEFT_ANKLE, RIGHT_ANKLE, LEFT_HEEL, RIGHT_HEEL]
    standing.keypoints[feet, 1] = 400.0  # floor at about 410 px: 10 px is a quarter radius
    assert above_feet(standing, plate(400.0 - 40.0 * ABOVE_FEET_RADII - 1))  # at the shoulders
    assert not above_feet(standing, plate(410.0 - 40.0))  # lying on the floor
    standing.visibility[feet] = 0.0
    assert not above_feet(standing, plate(100.0))  # no visible foot: nothing to tell
    assert not above_feet(None, plate(100.0))
