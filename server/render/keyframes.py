"""Phase key-frame images: one annotated JPEG per phase boundary event, phases/<event>.jpg.

The frame chosen for an event is the one whose presentation time is nearest the event's time. Frames
arrive in time order while a video is rendered, so a picker keeps at most one copy per event and
never needs to seek.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError, VideoError
from server.phases.types import BOUNDARY_EVENTS, PhaseEvent
from server.render.annotate import ALL_PHASES

__all__ = ["KeyframePicker", "boundary_times", "write_jpeg"]

# A phase boundary is reported as the start of the next phase; the event that names it is the
# previous phase's end (first_pull starting is "start_of_lifting", setup's end).
_PREVIOUS = {ALL_PHASES[i]: ALL_PHASES[i - 1] for i in range(1, len(ALL_PHASES))}


def boundary_times(events: Sequence[PhaseEvent], *, end_t: float | None = None) -> dict[str, float]:
    """Boundary event name -> time (s) from the phase stage's events (each a phase starting).

    The phase ending at an event is the previous event's phase (a skipped phase gets no image);
    the first event ends the phase before it in lift order (first_pull starting ends setup:
    start_of_lifting). end_t: when the last phase ended; it becomes that phase's end event.
    """
    for event in events:
        if event.phase not in BOUNDARY_EVENTS:
            raise InvalidInputError(f"unknown phase {event.phase!r} in phase events")
    ordered = sorted(events, key=lambda e: e.t)
    times: dict[str, float] = {}
    for k, event in enumerate(ordered):
        # The phase that ended here is the one before it in the events (phases may be skipped);
        # before the first event it is the phase that precedes it in lift order.
        ended = ordered[k - 1].phase if k else _PREVIOUS.get(event.phase)
        if ended is not None:
            times[BOUNDARY_EVENTS[ended]] = event.t
    if end_t is not None and ordered:
        times[BOUNDARY_EVENTS[ordered[-1].phase]] = end_t
    return times


def write_jpeg(path: str | Path, rgb: NDArray[np.uint8], *, quality: int = 90) -> Path:
    """Write an (H, W, 3) uint8 RGB image as a JPEG, atomically (temp file, then rename)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidInputError(f"image must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if not 1 <= quality <= 100:
        raise InvalidInputError(f"JPEG quality must be 1-100, got {quality}")
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise VideoError(f"could not encode {Path(path).name} as JPEG")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".jpg.tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.tobytes())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class KeyframePicker:
    """Keeps, for each boundary event, the offered frame nearest in time to it.

    boundaries: event name -> time in seconds (see boundary_times). Offer frames in time order
    with `wants(t)` as a cheap test first, so only the frames that may be kept get annotated.
    """

    def __init__(self, boundaries: Mapping[str, float]) -> None:
        for name, t in boundaries.items():
            if not np.isfinite(t):
                raise InvalidInputError(f"boundary {name!r} has a non-finite time {t}")
        self._times = dict(boundaries)
        self._best: dict[str, tuple[float, NDArray[np.uint8]]] = {}

    def _improves(self, name: str, t: float) -> bool:
        held = self._best.get(name)
        # Ties keep the earlier frame: it is the first to show the event.
        return held is None or abs(t - self._times[name]) < held[0]

    def wants(self, t: float) -> bool:
        """Whether a frame at time t would replace a held key frame."""
        return any(self._improves(name, t) for name in self._times)

    def offer(self, t: float, rgb: NDArray[np.uint8]) -> None:
        """Keep a copy of an (H, W, 3) uint8 frame for every event it is nearest to so far."""
        copy: NDArray[np.uint8] | None = None
        for name in self._times:
            if self._improves(name, t):
                copy = rgb.copy() if copy is None else copy
                self._best[name] = (abs(t - self._times[name]), copy)

    @property
    def missing(self) -> list[str]:
        """Events for which no frame was offered."""
        return [name for name in self._times if name not in self._best]

    def write(self, out_dir: str | Path, *, quality: int = 90) -> dict[str, Path]:
        """Write out_dir/<event>.jpg for every event with a frame; event name -> path."""
        folder = Path(out_dir)
        return {
            name: write_jpeg(folder / f"{name}.jpg", rgb, quality=quality)
            for name, (_, rgb) in self._best.items()
        }
