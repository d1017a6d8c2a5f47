"""Find the barbell plate in a frame: Hough proposals, then a sub-pixel fit of the outer rim.

Three pure functions over a frame (H, W) uint8 gray or (H, W, 3) uint8 RGB, full-frame pixel
coordinates (x right, y down, pixel centres at integers):

- `find_plates`: whole-frame search (first detection, re-acquisition) with HOUGH_GRADIENT_ALT on a
  copy reduced to a short side of 360 px, each proposal refined and ranked (large, well-fitted,
  near the wrists when the pose gives them).
- `find_plate_near`: HOUGH_GRADIENT in a window around a predicted centre, downscaled so the radius
  is about 40 px, radius within a tolerance of the running estimate, proposals refined.
- `refine_rim`: edge positions along radial rays at full resolution, then a robust least-squares
  circle: centre and radius to a fraction of a pixel. Rays that hit an occluder or clutter are
  rejected as outliers, so a hand, a burned-in mark or a path overlay costs a few rays, not the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from server.tracking.types import PlateDetection

Image = NDArray[np.uint8]

_N_RAYS = 72
_STEP = 0.5  # radial sample spacing, pixels
_SPAN = 16  # samples each side of an edge peak searched for its extent (8 px of motion blur)
_MIN_CONTRAST = 6.0  # grey levels: weaker edges are not plate rims
_CAND_P = np.array([0.5, 0.25, 0.15, 0.1])  # sampling odds of a ray's 1st..4th strongest edge
# Derivative of a Gaussian (sigma = 2 samples = 1 px), normalised so a unit step peaks at ~1.
_DG = np.gradient(np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)).astype(np.float32)
_DG /= -float(np.sum(_DG[:6]))


@dataclass(frozen=True)
class RimFit:
    """A circle fitted to a plate's outer rim.

    center: (2,) float64 pixels. radius: pixels. score: [0, 1], fraction of rays whose edge lies on
    the circle times a contrast term. residual_px: RMS distance of the inlier edge points from the
    circle. contrast: median colour step across the rim (RGB distance, or grey levels for gray
    input). inliers: rays used / rays cast.
    """

    center: NDArray[np.float64]
    radius: float
    score: float
    residual_px: float
    contrast: float
    inliers: float

    def detection(self) -> PlateDetection:
        return PlateDetection(center=self.center.copy(), radius=self.radius, score=self.score)


def median(a: NDArray[np.floating], axis: int | None = None) -> NDArray[np.floating]:
    """np.median of a 1-D array (axis None) or along axis 0 of a 2-D one, equal to it (only
    the sign of a zero median can differ: -0.0 and 0.0 tie in the partition), NaN when any value
    is, without np.median's generic machinery, which cost 20 us a call here, several times the
    work, on a rim's 72 values (the rim fit takes ten medians; they were a seventh of the plate
    search). tests/test_tracking_plate.py compares the two on random arrays.
    """
    n = a.shape[0]
    if n == 0 or (axis is None and a.ndim != 1) or (axis is not None and axis != 0):
        return np.median(a, axis=axis)  # type: ignore[no-any-return]
    k = n // 2
    kth = [k, n - 1] if n % 2 else [k - 1, k, n - 1]
    part = np.partition(a, kth, axis=0)
    mid = part[k] if n % 2 else (part[k - 1] + part[k]) / 2
    last = part[n - 1]
    if np.isnan(last).any():
        if a.ndim == 1:
            return np.asarray(np.nan, a.dtype)
        mid = np.where(np.isnan(last), np.nan, mid).astype(a.dtype)
    return mid  # type: ignore[no-any-return]


def to_gray(img: Image) -> Image:
    """(H, W) uint8 gray from gray or RGB input (no copy when already gray)."""
    return img if img.ndim == 2 else np.asarray(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), np.uint8)


def _crop_gray(img: Image, x0: int, y0: int, x1: int, y1: int) -> Image:
    crop = img[y0:y1, x0:x1]
    return to_gray(crop)


def refine_rim(
    img: Image, center: NDArray[np.float64], radius: float, band: float = 0.2
) -> RimFit | None:
    """Sub-pixel circle on the outer rim, searched within radius*(1 +- band) of a guess.

    Two passes: a wide band from the guess, then a band of +-5 % from the first fit, so a guess
    off by up to `band` radii still converges. None when too few rays see a consistent edge.
    """
    fit = _fit_pass(img, np.asarray(center, np.float64), float(radius), band)
    if fit is None:
        return None
    # Rays re-cast from the fitted centre: the rim is now at a constant radius along them.
    return _fit_pass(img, fit.center, fit.radius, 0.05, known=True) or fit


def _fit_pass(
    img: Image, center: NDArray[np.float64], radius: float, band: float, known: bool = False
) -> RimFit | None:
    """One fit from rays cast at `center`; `known`: the circle is already (center, radius)."""
    h, w = img.shape[:2]
    if radius < 4:
        return None
    theta = np.linspace(0.0, 2 * np.pi, _N_RAYS, endpoint=False)
    # 3 px of margin each side are the filter's support; edges are looked for inside the band.
    rs = np.arange(radius * (1 - band) - 6.0, radius * (1 + band) + 6.0, _STEP)
    mx = (center[0] + np.cos(theta)[:, None] * rs[None, :]).astype(np.float32)
    my = (center[1] + np.sin(theta)[:, None] * rs[None, :]).astype(np.float32)
    valid = (mx.min(1) >= 0) & (mx.max(1) <= w - 1) & (my.min(1) >= 0) & (my.max(1) <= h - 1)
    if valid.sum() < _N_RAYS * 0.35:
        return None
    # Sampling the full frame directly: no crop, no colour conversion of pixels never looked at.
    samples = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(
        np.float32
    )
    colour = samples.reshape(_N_RAYS, rs.size, -1)
    # Colour edges: a green rim on a purple wall is a strong edge even where both are one grey.
    deriv = cv2.filter2D(samples, -1, _DG[None, :], borderType=cv2.BORDER_REPLICATE)
    grad = np.sqrt(np.square(deriv).reshape(_N_RAYS, rs.size, -1).sum(-1))
    cand_r, cand_c, cand_i = _edge_candidates(colour, grad, rs)
    cand_c[~valid] = 0.0
    usable = cand_c >= _MIN_CONTRAST
    if usable.any(axis=1).sum() < _N_RAYS * 0.35:
        return None
    model = (radius, 0.0, 0.0) if known else _consensus_rim(cand_r, usable, theta, radius)
    if model is None:
        return None
    # Per ray, the candidate nearest the consensus circle; other edges (an inner ring, clutter)
    # are left out of the fit.
    expect = model[0] + model[1] * np.cos(theta) + model[2] * np.sin(theta)
    dist = np.where(usable, np.abs(cand_r - expect[:, None]), np.inf)
    pick = np.argmin(dist, axis=1)
    rows = np.arange(_N_RAYS)
    ok = dist[rows, pick] <= max(2.0, 0.03 * radius)
    edge_r, contrast = cand_r[rows, pick], cand_c[rows, pick]
    if ok.sum() >= 8:
        # The rim has one colour all round: a ray whose edge has another colour just inside it
        # (a hand, an occluding bar, a mark) has found that object's outline, not the rim.
        inside = colour[rows, cand_i[rows, pick]]
        med = median(inside[ok], axis=0)
        d = np.linalg.norm(inside - med, axis=1)
        ok &= d <= max(18.0, 0.15 * float(np.linalg.norm(med)), 3.0 * 1.4826 * float(median(d[ok])))
    ex = center[0] + np.cos(theta) * edge_r
    ey = center[1] + np.sin(theta) * edge_r
    fit = _robust_circle(ex, ey, ok, radius)
    if fit is None:
        return None
    cx, cy, r, inl, rms = fit
    c = float(median(contrast[inl]))
    frac = float(inl.sum()) / float(valid.sum())
    score = frac * min(1.0, c / 12.0)
    return RimFit(np.array([cx, cy]), r, score, rms, c, float(inl.sum()) / _N_RAYS)


def _edge_candidates(
    colour: NDArray[np.float32], grad: NDArray[np.float32], rs: NDArray[np.float64], k: int = 4
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per ray, the k strongest edges (each (n_rays, k)): sub-pixel radius, the colour step
    across the edge, and the sample index just inside it."""
    n = rs.size
    guard = 6  # samples at each end are filter borders, not edges
    peak = np.zeros_like(grad)
    g = grad[:, guard : n - guard]
    is_max = (g > grad[:, guard - 1 : n - guard - 1]) & (g >= grad[:, guard + 1 : n - guard + 1])
    peak[:, guard : n - guard] = np.where(is_max, g, 0.0)
    j = np.argsort(-peak, axis=1)[:, :k]
    rows = np.arange(grad.shape[0])[:, None]
    # Centroid of the response above half its peak over the contiguous run around the peak:
    # unbiased for the symmetric ramps of an anti-aliased or motion-blurred rim (a motion-blurred
    # edge is a plateau several pixels wide, where a parabola through three samples is not).
    half = _SPAN
    span = np.arange(-half, half + 1)
    idx = np.clip(j[..., None] + span, 0, n - 1)
    gv = grad[rows[..., None], idx]
    above = gv >= 0.5 * gv[..., half : half + 1]
    right = np.cumprod(above[..., half:], axis=-1)
    left = np.cumprod(above[..., half::-1], axis=-1)[..., ::-1]
    run = np.concatenate([left[..., :-1], right], axis=-1).astype(bool)
    wgt = np.where(run, gv - 0.5 * gv[..., half : half + 1], 0.0)
    off = (wgt * span).sum(-1) / np.maximum(wgt.sum(-1), 1e-6)
    radii = rs[0] + (j + off) * _STEP
    lo_i = j - left.sum(-1) - 3
    hi_i = j + right.sum(-1) + 3
    lo_i = np.clip(lo_i, 0, n - 1)
    outside = colour[rows, np.clip(hi_i, 0, n - 1)]
    step = np.linalg.norm(outside - colour[rows, lo_i], axis=-1).astype(np.float64)
    step[peak[rows, j] <= 0] = 0.0
    return radii, step, lo_i


def _consensus_rim(
    cand_r: NDArray[np.float64],
    usable: NDArray[np.bool_],
    theta: NDArray[np.float64],
    radius: float,
) -> tuple[float, float, float] | None:
    """RANSAC over edge candidates for the rim as rho(theta) = R + dx cos(theta) + dy sin(theta).

    Near the guessed centre a circle is, to first order, that sinusoid in ray space. Hypotheses
    from three rays about 120 degrees apart; the winner has the most rays with a candidate within
    tolerance. A plate can carry concentric inner rings (rim lip, two-tone face): among hypotheses
    concentric with the best one and with at least 75 % of its support the largest radius wins, as
    the outer rim is the plate.
    """
    n, k = cand_r.shape
    rng = np.random.default_rng(n * 7919 + round(radius))  # deterministic per call shape
    m = 160
    base = rng.integers(0, n, m)
    rays = (
        base[:, None]
        + np.array([0, n // 3, 2 * n // 3])
        + rng.integers(-n // 12, n // 12 + 1, (m, 3))
    ) % n
    # Favour each ray's strongest candidates: the rim is usually among the top two.
    cand = np.minimum(rng.choice(k, size=(m, 3), p=_CAND_P[:k] / _CAND_P[:k].sum()), k - 1)
    good = usable[rays, cand].all(1)
    if not good.any():
        return None
    rays, cand = rays[good], cand[good]
    th = theta[rays]
    a = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], -1)
    rho = cand_r[rays, cand]
    sol = np.linalg.solve(a + 1e-9 * np.eye(3), rho[..., None])[..., 0]
    model = sol[:, 0:1] + sol[:, 1:2] * np.cos(theta) + sol[:, 2:3] * np.sin(theta)
    tol = max(1.5, 0.02 * radius)
    hit = (np.abs(cand_r[None, :, :] - model[:, :, None]) <= tol) & usable[None]
    support = hit.any(-1).sum(1)
    plausible = np.abs(sol[:, 0] - radius) <= 0.35 * radius
    support = np.where(plausible, support, 0)
    best = int(support.max())
    if best < max(8, 0.3 * n):
        return None
    top = int(np.argmax(support))
    # Rings of one plate share its centre; a coincidence of clutter edges does not.
    concentric = np.hypot(sol[:, 1] - sol[top, 1], sol[:, 2] - sol[top, 2]) <= max(
        1.5, 0.02 * radius
    )
    strong = (support >= 0.75 * best) & concentric
    i = int(np.argmax(np.where(strong, sol[:, 0], -np.inf)))
    return float(sol[i, 0]), float(sol[i, 1]), float(sol[i, 2])


def _robust_circle(
    x: NDArray[np.float64], y: NDArray[np.float64], ok: NDArray[np.bool_], r_guess: float
) -> tuple[float, float, float, NDArray[np.bool_], float] | None:
    """Least-squares circle (Kasa: x^2 + y^2 + D x + E y + F = 0) with iterated outlier rejection."""
    inl = ok.copy()
    cx = cy = r = 0.0
    for _ in range(4):
        if inl.sum() < max(8, 0.3 * x.size):
            return None
        xs, ys = x[inl], y[inl]
        mx, my = xs.mean(), ys.mean()  # centre the data: better conditioning
        u, v = xs - mx, ys - my
        a = np.stack([u, v, np.ones_like(u)], 1)
        sol, *_ = np.linalg.lstsq(a, -(u * u + v * v), rcond=None)
        cx, cy = mx - sol[0] / 2, my - sol[1] / 2
        r2 = (sol[0] ** 2 + sol[1] ** 2) / 4 - sol[2]
        if r2 <= 0:
            return None
        r = math.sqrt(r2)
        res = np.hypot(x - cx, y - cy) - r
        r_in = res[inl]
        mad = float(median(np.abs(r_in - median(r_in))))
        tol = min(max(0.75, 3.0 * 1.4826 * mad), 0.03 * r_guess + 1.0)
        new = ok & (np.abs(res) <= tol)
        if np.array_equal(new, inl):
            break
        inl = new
    if inl.sum() < max(8, 0.3 * x.size):
        return None
    rms = float(np.sqrt(np.mean((np.hypot(x[inl] - cx, y[inl] - cy) - r) ** 2)))
    return float(cx), float(cy), float(r), inl, rms


def find_plate_near(
    img: Image,
    center: NDArray[np.float64],
    radius: float,
    half_size: float,
    radius_tol: float = 0.2,
    max_proposals: int = 3,
) -> list[RimFit]:
    """Plates in a square window of +-half_size px around a predicted centre, best Hough first.

    The window is downscaled so the expected radius is about 40 px (Hough's accumulator is most
    reliable there), median-blurred, and searched for radii within radius*(1 +- radius_tol).
    """
    h, w = img.shape[:2]
    x0, y0 = max(0, round(center[0] - half_size)), max(0, round(center[1] - half_size))
    x1, y1 = min(w, round(center[0] + half_size) + 1), min(h, round(center[1] + half_size) + 1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return []
    crop = _crop_gray(img, x0, y0, x1, y1)
    s = min(1.0, 40.0 / radius)
    if s < 1.0:
        crop = np.asarray(
            cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), np.uint8
        )
    crop = np.asarray(cv2.medianBlur(crop, 5), np.uint8)
    rmin = max(3, math.floor(radius * s * (1 - radius_tol)))
    rmax = math.ceil(radius * s * (1 + radius_tol))
    circles = cv2.HoughCircles(
        crop,
        cv2.HOUGH_GRADIENT,
        dp=1,
        minDist=max(4.0, radius * s * 0.5),
        param1=80,
        param2=18,
        minRadius=rmin,
        maxRadius=rmax,
    )
    if circles is None:
        return []
    fits = []
    for cx, cy, _r in circles[0, :max_proposals]:
        guess = np.array([x0 + cx / s, y0 + cy / s])
        fit = refine_rim(img, guess, radius, band=max(0.2, radius_tol))
        if fit is not None and abs(fit.radius - radius) <= radius_tol * radius:
            fits.append(fit)
    return fits


def find_plates(
    img: Image,
    wrists_px: NDArray[np.float64] | None = None,
    short_side: int = 360,
    radius_range: tuple[float, float] = (0.05, 0.30),
    max_proposals: int = 8,
) -> list[RimFit]:
    """Plates anywhere in the frame, best first.

    radius_range: radii as fractions of the frame's short side. Ranking prefers large, well-fitted
    circles (a head or a background plate is smaller than the near plate); when the pose gives the
    wrists ((K, 2) px), circles within 2.5 radii of a wrist come first, since the hands hold the bar.
    """
    gray = to_gray(img)
    h, w = gray.shape
    s = min(1.0, short_side / min(h, w))
    small = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1.0 else gray
    short = min(small.shape)
    rmin, rmax = max(4, round(radius_range[0] * short)), round(radius_range[1] * short)
    circles = cv2.HoughCircles(
        small,
        cv2.HOUGH_GRADIENT_ALT,
        dp=1.5,
        minDist=rmin,
        param1=300,
        param2=0.8,
        minRadius=rmin,
        maxRadius=rmax,
    )
    if circles is None:
        return []
    props = sorted(circles[0], key=lambda c: -float(c[2]))[:max_proposals]
    fits = []
    for cx, cy, r in props:
        fit = refine_rim(img, np.array([cx / s, cy / s]), r / s, band=0.2)
        if fit is not None and fit.score >= 0.3:
            fits.append(fit)
    return sorted(fits, key=lambda f: -_rank(f, wrists_px))


def _rank(fit: RimFit, wrists: NDArray[np.float64] | None) -> float:
    key = math.sqrt(fit.score) * fit.radius  # size dominates: the near plate is the largest
    if wrists is not None and len(wrists) > 0:
        d = float(np.min(np.hypot(*(np.asarray(wrists, np.float64) - fit.center).T)))
        key *= 1.0 if d <= 2.5 * fit.radius else 0.3
    return key
