"""Constant-velocity Kalman filter on the plate centre in image pixels (filterpy underneath).

State x = [px, py, vx, vy]: centre in pixels (x right, y down) and its velocity in pixels/s.
Measurement z = [px, py]: the fitted rim centre of one frame.

Why constant velocity and not constant acceleration: a lift's acceleration changes sign within
a few frames (second pull to turnover, about 0.15 s), so an acceleration state lags and then
overshoots exactly where the bar is fastest, and with 30 fps positions it is barely observable.
A constant-velocity model with white-noise acceleration as process noise follows those changes
(the study on the real clips held every side-view clip with it). Accurate accelerations come from
the non-causal smoother in the analysis stage, not from this live filter.

The process noise is a physical acceleration (m/s^2) converted to pixels with the scale at the
plate (pixels per metre), and integrated over each frame's actual interval (timestamps, not a
nominal fps), so the same setting works at 25, 30 or 60 fps and at any zoom.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter
from numpy.typing import NDArray

from server.errors import InvalidInputError

Vec = NDArray[np.float64]


class PlateKalman:
    """The filter for one track. Predict with the elapsed time, then update with a measured centre
    (or not, to coast through a missed frame)."""

    def __init__(
        self,
        center_px: Vec,
        px_per_m: float,
        *,
        accel_sigma_mps2: float = 15.0,
        meas_sigma_px: float = 1.0,
        velocity_px_s: Vec | None = None,
        velocity_sigma_mps: float = 1.5,
    ) -> None:
        """center_px: (2,) first measured centre. px_per_m: scale at the plate (radius / 0.225 m).
        accel_sigma_mps2: std of the bar's unmodelled acceleration (a snatch turnover reaches
        about 20 m/s^2). meas_sigma_px: std of one fitted centre. velocity_sigma_mps: prior
        uncertainty of the initial velocity."""
        if not px_per_m > 0:
            raise InvalidInputError(f"px_per_m must be > 0, got {px_per_m!r}")
        if not meas_sigma_px > 0:
            raise InvalidInputError(f"meas_sigma_px must be > 0, got {meas_sigma_px!r}")
        self.px_per_m = float(px_per_m)
        self.accel_sigma_px = accel_sigma_mps2 * self.px_per_m
        kf = KalmanFilter(dim_x=4, dim_z=2)
        v0 = np.zeros(2) if velocity_px_s is None else np.asarray(velocity_px_s, np.float64)
        kf.x = np.array([center_px[0], center_px[1], v0[0], v0[1]], np.float64)
        # P: initial uncertainty; position from one measurement, velocity from a loose prior.
        vel_var = (velocity_sigma_mps * self.px_per_m) ** 2
        kf.P = np.diag([meas_sigma_px**2, meas_sigma_px**2, vel_var, vel_var])
        # H: we measure the position only.
        kf.H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
        # R: independent x/y noise of a fitted centre, px^2 (can be set per update).
        kf.R = np.eye(2) * meas_sigma_px**2
        self._kf = kf

    @staticmethod
    def transition(dt: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """F and the unit-acceleration Q for an interval of dt seconds."""
        # F: position advances by velocity * dt; velocity is carried over unchanged.
        f = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)
        # Q: a piecewise-constant white acceleration over dt (the discrete white-noise model):
        # G = [dt^2/2, dt] per axis, Q = G G^T sigma_a^2.
        g = np.array([0.5 * dt * dt, dt])
        q1 = np.outer(g, g)
        q = np.zeros((4, 4))
        q[np.ix_([0, 2], [0, 2])] = q1
        q[np.ix_([1, 3], [1, 3])] = q1
        return f, q

    def predict(self, dt: float) -> None:
        """Advance the state by dt seconds (> 0; a duplicated timestamp should not predict)."""
        if dt <= 0:
            return
        f, q = self.transition(dt)
        self._kf.predict(F=f, Q=q * self.accel_sigma_px**2)

    def update(self, z_px: Vec, sigma_px: float | None = None) -> None:
        """Fold in a measured centre (2,) px; sigma_px overrides the measurement noise."""
        r = None if sigma_px is None else np.eye(2) * float(sigma_px) ** 2
        self._kf.update(np.asarray(z_px, np.float64), R=r)

    def damp_velocity(self, factor: float) -> None:
        """Scale the velocity (a missed frame): coasting at full speed carries a lost track out of
        the frame, and a bar that is not seen has usually slowed or stopped (caught, dropped)."""
        self._kf.x[2:] *= factor

    def gate_sigma(self) -> float:
        """Std (px) of the predicted centre along its least certain direction, measurement noise
        included: the scale for gating the next measurement."""
        s = self._kf.P[:2, :2] + self._kf.R
        return float(np.sqrt(np.linalg.eigvalsh(s)[-1]))

    @property
    def center(self) -> Vec:
        """(2,) px, the current estimate."""
        return np.array(self._kf.x[:2], np.float64)

    @property
    def velocity(self) -> Vec:
        """(2,) px/s, the current estimate."""
        return np.array(self._kf.x[2:], np.float64)
