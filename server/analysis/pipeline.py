"""The offline analysis of one recorded lift: `analyze_video(video, options, out_dir)`.

    measure (pose, plate, camera motion per frame) -> calibrate -> smooth (RTS) -> segment phases
    -> document (session.json) -> render (analyzed.mp4, phases/<event>.jpg)

The same function serves `liftstream analyze`, uploaded sessions (the job worker) and finalised
live lifts. Outputs are written into `out_dir`; session.json is written last, so a folder without
it holds no result.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from server.analysis import angles
from server.analysis.document import BodySeries, body_angles, build_document, keyframe_times
from server.analysis.kinematics import BarKinematics, bar_kinematics, body_kinematics, noise_px
from server.analysis.measure import Measurements, measure_clip
from server.analysis.units import check_system
from server.errors import InvalidInputError, NoLiftError
from server.phases.segment import LiftSegments, segment
from server.phases.types import Exercise
from server.pose import types as lm
from server.render.video import build_overlays, render_session
from server.settings import Settings
from server.tracking import calibration as calib

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
MEASURE_SHARE = 0.75  # of the progress bar: the measuring pass; the rest is rendering
ANALYSIS_VERSION = "0.1"


@dataclass(frozen=True)
class AnalysisOptions:
    """exercise: snatch | clean | clean_and_jerk. barbell_mass_kg: > 0. joints: of angles.JOINTS.
    plate_diameter_m: the near plate's real diameter. units: metric | imperial.
    lifter_height_m, body_mass_kg: from the profile (fallback calibration; body term of the
    ground reaction force). render: write analyzed.mp4. max_side: analyse frames at most this
    long on their longer side (pixels)."""

    exercise: str
    barbell_mass_kg: float = 100.0
    joints: tuple[str, ...] = angles.DEFAULT_JOINTS
    plate_diameter_m: float = 0.45
    units: str = "metric"
    lifter_height_m: float | None = None
    body_mass_kg: float | None = None
    render: bool = True
    max_side: int | None = 1280

    def __post_init__(self) -> None:
        try:
            Exercise(self.exercise)
        except ValueError:
            raise InvalidInputError(
                f"exercise {self.exercise!r}: use snatch, clean or clean_and_jerk"
            ) from None
        if not (np.isfinite(self.barbell_mass_kg) and 0 < self.barbell_mass_kg <= 600):
            raise InvalidInputError(
                f"barbell mass {self.barbell_mass_kg!r} kg: must be a number in (0, 600]"
            )
        unknown = [j for j in self.joints if j not in angles.JOINTS]
        if unknown or not self.joints:
            raise InvalidInputError(
                f"joints {','.join(self.joints) or '(none)'}: choose from {','.join(angles.JOINTS)}"
            )
        if not 0.05 <= self.plate_diameter_m <= 1.0:
            raise InvalidInputError(
                f"plate diameter {self.plate_diameter_m * 1000:.0f} mm: must be 50-1000 mm"
            )
        check_system(self.units)
        if self.lifter_height_m is not None and not 1.0 <= self.lifter_height_m <= 2.5:
            raise InvalidInputError(f"lifter height {self.lifter_height_m!r} m: must be 1.0-2.5 m")
        if self.body_mass_kg is not None and not 20 <= self.body_mass_kg <= 300:
            raise InvalidInputError(f"body mass {self.body_mass_kg!r} kg: must be 20-300 kg")


def _nose_to_ankle(poses: list[Any]) -> np.ndarray:
    out = np.full(len(poses), np.nan)
    for i, p in enumerate(poses):
        if p is None:
            continue
        ankle_y = max(p.keypoints[lm.LEFT_ANKLE, 1], p.keypoints[lm.RIGHT_ANKLE, 1])
        out[i] = float(ankle_y - p.keypoints[lm.NOSE, 1])
    return out


def calibrate(m: Measurements, options: AnalysisOptions, warnings: list[str]) -> calib.Calibration:
    found = calib.from_plate(m.fit_radius, options.plate_diameter_m)
    if found is not None:
        if found.spread > 0.05:
            warnings.append(
                f"the plate's apparent size varied by {found.spread:.0%} over the clip: "
                "check the camera is side-on and still"
            )
        return found
    if options.lifter_height_m is None:
        raise NoLiftError(
            "no barbell plate was found in the clip: film from the side with the near plate "
            "whole in the frame (or set the lifter's height in the profile)"
        )
    warnings.append("no plate found: scale from the lifter's height in the profile")
    return calib.from_lifter_height(_nose_to_ankle(m.poses), options.lifter_height_m)


def facing_of(m: Measurements, warnings: list[str]) -> int:
    votes = [f for p in m.poses if p is not None and (f := angles.facing_direction(p)) is not None]
    if not votes:
        warnings.append("the lifter's facing direction could not be seen: assumed image right")
        return 1
    return 1 if sum(votes) >= 0 else -1


def _points(m: Measurements, fn: Callable[[Any], np.ndarray]) -> np.ndarray:
    out = np.full((m.frames, 2), np.nan)
    for i, p in enumerate(m.poses):
        if p is not None:
            out[i] = fn(p)
    return out


def analyze_measurements(
    m: Measurements, options: AnalysisOptions
) -> tuple[dict[str, Any], LiftSegments, BarKinematics]:
    """Measurements -> (document without key frames, the lift, the bar's kinematics). Raises
    NoLiftError for a clip with no lift (or a movement that is not a snatch/clean pattern)."""
    warnings = list(m.warnings)
    if m.frames < 10:
        raise NoLiftError(f"the clip has {m.frames} frames: too short to hold a lift")
    cal = calibrate(m, options, warnings)
    facing = facing_of(m, warnings)
    centers = m.fit_center
    seen = np.isfinite(centers).all(axis=1)
    if np.count_nonzero(seen) < calib.MIN_PLATE_FITS:
        raise NoLiftError("the barbell plate was seen in too few frames to follow the bar")
    offsets = m.camera_offsets(centers)
    # Noise from frames with a picture of their own: a repeated picture repeats its measurement.
    fresh = (centers - offsets)[~m.duplicate]
    noise = max(noise_px(fresh[:, 1]), noise_px(fresh[:, 0]))
    bar = bar_kinematics(
        m.t,
        centers,
        cal.px_per_m,
        facing=facing,
        camera_offset_px=offsets,
        plate_radius_m=options.plate_diameter_m / 2,
        noise_sigma_px=noise,
    )
    hip = _points(m, angles.hip_point)
    shoulder = _points(m, angles.shoulder_point)
    # One offset per frame for the body, taken at the hips (the shoulders are close enough
    # that roll and zoom move them alike).
    body = body_kinematics(m.t, hip, shoulder, cal.px_per_m, bar.floor_y_px, m.camera_offsets(hip))
    body_series = body_angles(m.poses, facing, tuple(dict.fromkeys((*options.joints, "knee"))))
    stable_y = centers[:, 1] - offsets[:, 1]
    measured_height = np.where(bar.measured, (bar.floor_y_px - stable_y) / cal.px_per_m, np.nan)
    lifts = segment(
        m.t,
        bar.height,
        bar.vy,
        bar.ay,
        options.exercise,
        knee_angle=body_series.joints["knee"],
        measured_height=measured_height,
        rest_height=options.plate_diameter_m / 2,
    )
    if not lifts:
        raise NoLiftError("no lift found: the bar never left the floor")
    if len(lifts) > 1:
        warnings.append(f"{len(lifts)} lifts found in the clip: the report covers the first")
    lift = lifts[0]
    warnings.extend(lift.warnings)
    joints_only = {j: body_series.joints[j] for j in options.joints}
    doc = build_document(
        exercise=options.exercise,
        system=options.units,
        bar_mass_kg=options.barbell_mass_kg,
        body_mass_kg=options.body_mass_kg,
        joints=options.joints,
        bar=bar,
        body=body,
        body_angles_=BodySeries(body_series.shin, body_series.torso, joints_only),
        bar_seen=bar.measured,
        lift=lift,
        calibration=cal,
        facing=facing,
        warnings=warnings,
        analysis={
            "version": ANALYSIS_VERSION,
            "frames": m.frames,
            "duplicate_frames": int(np.count_nonzero(m.duplicate)),
            "plate_frames": int(np.count_nonzero(seen)),
            "pose_frames": sum(p is not None for p in m.poses),
            "nominal_fps": round(m.nominal_fps, 3),
            "frame_size": list(m.size),
            "camera_motion_max_px": _max_motion(offsets),
            "measurement_noise_px": round(bar.noise_px, 3),
            "lifts_found": len(lifts),
            "lifter_height_m": _standing_height_m(m.poses, cal.px_per_m),
        },
    )
    return doc, lift, bar


def _standing_height_m(poses: list[Any], px_per_m: float) -> float | None:
    """The lifter's stature seen in the clip, m: the 90th percentile of the nose-to-ankle distance
    over the frames with a pose (the standing frames), over 0.89 of stature (anthropometric
    tables, `calibration.NOSE_TO_ANKLE_OF_STATURE`). None with fewer than 5 poses. A check on the
    scale and a reference for heights (a snatch's top is at 60-85% of stature), not a
    measurement of the person."""
    nose_to_ankle = _nose_to_ankle(poses)
    nose_to_ankle = nose_to_ankle[np.isfinite(nose_to_ankle)]
    if nose_to_ankle.size < 5:
        return None
    stature_px = float(np.percentile(nose_to_ankle, 90)) / calib.NOSE_TO_ANKLE_OF_STATURE
    return round(stature_px / px_per_m, 3)


def _max_motion(offsets: np.ndarray) -> float:
    """Largest camera displacement at the bar over the clip, px (0 when never measured)."""
    if not np.isfinite(offsets).any():
        return 0.0
    return round(float(np.nanmax(np.abs(offsets))), 2)


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".session-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, allow_nan=False, separators=(",", ":"))
    os.replace(tmp, path)


def analyze_video(
    video: str | Path,
    options: AnalysisOptions,
    out_dir: str | Path,
    *,
    service: Any | None,
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Analyse `video`, write out_dir/{analyzed.mp4, phases/*.jpg, session.json}; return the
    document. service: the pose InferenceService (None: bar only, no body metrics)."""
    from server.pose.tracker import PoseTracker

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _f: None)
    pose = PoseTracker(service) if service is not None else None
    m = measure_clip(
        video,
        pose=pose,
        plate_diameter_m=options.plate_diameter_m,
        max_side=options.max_side,
        settings=settings,
        progress=lambda f: report(MEASURE_SHARE * f),
    )
    if service is None:
        m.warnings.append("pose estimation was off: body metrics are empty")
    doc, lift, bar = analyze_measurements(m, options)
    events = lift.phase_events()
    report(MEASURE_SHARE)
    overlays = build_overlays(
        m.t,
        poses=m.poses,
        bar_centers=m.track_center,
        plate_radii=m.track_radius,
        velocity_mps=bar.vy,
        events=events,
        units="imperial" if options.units == "imperial" else "metric",
        legend=tuple(e.phase for e in events),
    )
    result = render_session(
        video,
        overlays,
        out / "analyzed.mp4" if options.render else None,
        keyframe_times=keyframe_times(lift),
        phases_dir=out / "phases",
        max_side=options.max_side,
        settings=settings,
        progress=lambda f: report(MEASURE_SHARE + (1 - MEASURE_SHARE) * f),
    )
    doc["phase_data"] = {
        event: {"image_url": f"phases/{path.name}", "t": round(lift.events[event], 4)}
        for event, path in result.keyframes.items()
    }
    doc["warnings"] = list(dict.fromkeys([*doc["warnings"], *result.warnings]))
    write_json_atomic(out / "session.json", doc)
    report(1.0)
    return doc
