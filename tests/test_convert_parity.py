"""The converted ONNX models compute what the original tflite models compute.

For each model in the real cache (Settings().model_dir, skipped with a pointer to
`liftstream models prepare` when absent) the ONNX model under onnxruntime CPU is compared with the
original .tflite under the LiteRT interpreter on random inputs, a drawn image, and real frames from
the shared clips; a batch of 8 must equal 8 single runs. A few converter unit checks need no cache.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.pose.convert import BATCH, convert_file, convert_tflite
from server.pose.convert_ops import same_pads
from server.pose.models import MODEL_NAMES
from server.pose.runtime import OnnxModel
from server.pose.service import LANDMARK_OUTPUTS
from tests.conftest import clip_path
from tests.pose_model_fixtures import (
    TfliteRunner,
    detector_input,
    landmark_input,
    onnx_session,
    read_frames,
    real_cache_or_skip,
    stick_figure,
)

# Max abs difference allowed per output. Landmark `Identity` is in 256-px units (values to ~250),
# `Identity_1` a probability; the detector's boxes are in 224-px units and its scores are logits.
LANDMARK_TOL = {"Identity": 1e-2, "Identity_1": 1e-3, "Identity_3": 1e-2, "Identity_4": 1e-3}
DETECTOR_TOL = {"Identity": 1e-2, "Identity_1": 5e-3}
# Segmentation logits reach ~1.7e3 and the tflite run differs by float32 summation order in a deep
# decoder, so they are held to a tolerance relative to their own range instead.
SEGMENTATION_REL_TOL = 5e-3

LANDMARK_NAMES = [n for n in MODEL_NAMES if n != "pose_detection"]

REAL_FRAMES = [
    ("snatch_side_competition_wdias.mp4", [0, 60, 120]),
    ("deadlift_side_good_posereader.mp4", [30]),
]


@cache
def _runners(name: str) -> tuple[Any, TfliteRunner]:
    model_cache = real_cache_or_skip(name)
    return onnx_session(model_cache.onnx_path(name)), TfliteRunner(model_cache.tflite_path(name))


def _onnx_run(session: Any, batch: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"input_1": batch}), strict=True))


def _to_input(name: str, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    return detector_input(rgb) if name == "pose_detection" else landmark_input(rgb)


def _assert_parity(name: str, image: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
    session, tfl = _runners(name)
    ours = _onnx_run(session, image[None])
    ref = tfl.run(image)
    assert set(ours) == set(ref)
    tolerances = DETECTOR_TOL if name == "pose_detection" else LANDMARK_TOL
    for key, want in ref.items():
        got = ours[key]
        assert got.shape == want.shape, key
        diff = float(np.abs(got - want).max())
        limit = tolerances.get(key, SEGMENTATION_REL_TOL * float(np.abs(want).max()))
        assert diff <= limit, f"{name} {key}: max abs diff {diff:.3g} > {limit:.3g}"
    return ref


def _random_input(name: str, seed: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    if name == "pose_detection":
        return rng.uniform(-1.0, 1.0, (224, 224, 3)).astype(np.float32)
    return rng.uniform(0.0, 1.0, (256, 256, 3)).astype(np.float32)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parity_random(name: str) -> None:
    for seed in (0, 1):
        _assert_parity(name, _random_input(name, seed))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parity_drawn_image(name: str) -> None:
    _assert_parity(name, _to_input(name, stick_figure()))


@pytest.mark.realclips
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parity_real_frames(name: str) -> None:
    _runners(name)  # skip before touching the clips when the model is absent
    frames = [f for clip, idx in REAL_FRAMES for f in read_frames(clip_path(clip), idx)]
    refs = [_assert_parity(name, _to_input(name, f)) for f in frames]
    # The frames must exercise the confident regime, not only near-zero outputs.
    if name == "pose_detection":
        best = max(float(np.max(r["Identity_1"])) for r in refs)
        assert best > 0.0, "no frame gives the detector a positive score logit (a person)"
    else:
        presence = max(float(r["Identity_1"].max()) for r in refs)
        assert presence > 0.9, f"no real frame shows a person to {name} (presence {presence:.3f})"


@pytest.mark.parametrize("name", LANDMARK_NAMES)
def test_the_served_landmark_model_skips_only_the_segmentation(name: str) -> None:
    """The service builds its landmark session without the segmentation branch: the outputs it
    keeps are the whole model's and the tflite model's, the graph it runs is smaller."""
    model_cache = real_cache_or_skip(name)
    path = model_cache.onnx_path(name)
    served = OnnxModel(path, outputs=LANDMARK_OUTPUTS)
    whole = OnnxModel(path)
    assert served.output_names == list(LANDMARK_OUTPUTS)
    assert "Identity_2" in whole.output_names
    _, tfl = _runners(name)
    for seed in (0, 1):
        image = _random_input(name, seed)
        got, full, ref = served.run(image[None]), whole.run(image[None]), tfl.run(image)
        for key in LANDMARK_OUTPUTS:
            np.testing.assert_allclose(got[key], full[key], rtol=0, atol=1e-5, err_msg=key)
            diff = float(np.abs(got[key][0] - ref[key]).max())
            assert diff <= LANDMARK_TOL[key], f"{name} {key}: {diff:.3g}"
    with pytest.raises(InvalidInputError, match="cannot keep"):
        OnnxModel(path, outputs=["Identity", "no_such_output"])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batch_of_8_equals_single_runs(name: str) -> None:
    session, _ = _runners(name)
    batch = np.stack([_random_input(name, 10 + i) for i in range(8)])
    together = _onnx_run(session, batch)
    for i in range(8):
        alone = _onnx_run(session, batch[i : i + 1])
        for key, value in alone.items():
            assert together[key].shape[0] == 8
            np.testing.assert_allclose(
                together[key][i : i + 1], value, rtol=1e-5, atol=1e-4, err_msg=f"{name} {key} #{i}"
            )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_boundary_names_layout_and_symbolic_batch(name: str) -> None:
    session, tfl = _runners(name)
    (inp,) = session.get_inputs()
    assert inp.name == tfl.input_name == "input_1"
    assert inp.shape == [BATCH, *tfl.input_shape[1:]]  # NHWC kept at the boundary
    expected = ["Identity", "Identity_1"] + (
        [] if name == "pose_detection" else ["Identity_2", "Identity_3", "Identity_4"]
    )
    assert [o.name for o in session.get_outputs()] == expected
    assert all(o.shape[0] == BATCH for o in session.get_outputs())


def test_rebuild_from_kept_source_is_identical(tmp_path: Path) -> None:
    # The converter is deterministic: converting the kept tflite again gives the cached bytes.
    model_cache = real_cache_or_skip("pose_detection")
    dst = tmp_path / "out" / "pose_detection.onnx"
    convert_file(model_cache.tflite_path("pose_detection"), dst)
    assert dst.read_bytes() == model_cache.onnx_path("pose_detection").read_bytes()
    assert [p.name for p in dst.parent.iterdir()] == ["pose_detection.onnx"]  # no temp left


def test_detector_weights_folded_to_float32() -> None:
    # Every DEQUANTIZE/DENSIFY of the detector folds away: one ONNX Conv per tflite (depthwise)
    # conv, no float16 left, and the convs' weights are dense float32 initializers.
    import tflite

    model_cache = real_cache_or_skip("pose_detection")
    source = tflite.Model.GetRootAsModel(model_cache.tflite_path("pose_detection").read_bytes(), 0)
    codes = [source.OperatorCodes(source.Subgraphs(0).Operators(i).OpcodeIndex()).BuiltinCode()
             for i in range(source.Subgraphs(0).OperatorsLength())]  # fmt: skip
    op = tflite.BuiltinOperator
    assert codes.count(op.DENSIFY) > 0 and codes.count(op.DEQUANTIZE) > 0
    model = onnx.load(str(model_cache.onnx_path("pose_detection")))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == codes.count(op.CONV_2D) + codes.count(op.DEPTHWISE_CONV_2D)
    inits = {t.name: t for t in model.graph.initializer}
    assert all(inits[c.input[1]].data_type == onnx.TensorProto.FLOAT for c in convs)
    assert not any(t.data_type == onnx.TensorProto.FLOAT16 for t in inits.values())


# --- converter unit checks that need no model --------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [
        (224, 3, 2, 1, (0, 1)),  # out 112: total pad 1, the extra pixel goes after (TF)
        (112, 3, 1, 1, (1, 1)),
        (56, 5, 1, 1, (2, 2)),
        (7, 1, 1, 1, (0, 0)),
        (8, 2, 2, 1, (0, 0)),
        (9, 2, 2, 1, (0, 1)),  # out 5: 4*2+2-9 = 1
        (10, 3, 1, 2, (2, 2)),  # dilated kernel spans 5
    ],
)
def test_same_pads_match_tensorflow(
    size: int, kernel: int, stride: int, dilation: int, expected: tuple[int, int]
) -> None:
    assert same_pads(size, kernel, stride, dilation) == expected


@pytest.mark.parametrize("data", [b"", b"not a model at all", b"\x00" * 64])
def test_rejects_non_tflite_bytes(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match="tflite"):
        convert_tflite(data)
