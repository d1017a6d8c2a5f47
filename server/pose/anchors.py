"""SSD anchors of the BlazePose person detector (224x224 input).

The detector predicts every box and keypoint as an offset from a fixed anchor centre. Its anchor
grid follows MediaPipe's SsdAnchorsCalculator options for pose_detection: strides 8, 16, 32, 32,
32 on a 224-pixel input, two anchors (aspect ratio 1 and its interpolated twin) per cell and
layer, fixed anchor size 1. Consecutive layers with the same stride share one feature map, so
their anchors are interleaved per cell: 28*28*2 + 14*14*2 + 7*7*6 = 2254 anchors.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_CELL_PER_LAYER = 2
NUM_ANCHORS = 2254


def _grid_groups() -> list[tuple[int, int]]:
    """(feature-map size, anchors per cell) for each run of layers with the same stride."""
    groups: list[tuple[int, int]] = []
    i = 0
    while i < len(STRIDES):
        j = i
        while j < len(STRIDES) and STRIDES[j] == STRIDES[i]:
            j += 1
        # ceil, as the calculator does, although 224 divides evenly by every stride here
        size = -(-INPUT_SIZE // STRIDES[i])
        groups.append((size, ANCHORS_PER_CELL_PER_LAYER * (j - i)))
        i = j
    return groups


def _build() -> NDArray[np.float32]:
    parts = []
    for size, per_cell in _grid_groups():
        centres = (np.arange(size, dtype=np.float64) + 0.5) / size
        ys, xs = np.meshgrid(centres, centres, indexing="ij")  # row-major: y outer, x inner
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        parts.append(np.repeat(cells, per_cell, axis=0))
    anchors = np.concatenate(parts).astype(np.float32)
    if anchors.shape != (NUM_ANCHORS, 2):
        raise AssertionError(f"anchor grid has {anchors.shape[0]} anchors, want {NUM_ANCHORS}")
    anchors.setflags(write=False)
    return anchors


@cache
def ssd_anchors() -> NDArray[np.float32]:
    """Anchor centres, (2254, 2) float32, (x, y) normalised to [0, 1] of the 224 input.

    Read-only and built once; the detector decode adds raw offsets / 224 to these.
    """
    return _build()
