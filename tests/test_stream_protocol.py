"""The wire protocol: round trips, strict decoding, size limits, garbage never crashes."""

from __future__ import annotations

import contextlib

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.stream import protocol as p


def pack(body: object) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


def test_server_messages_pack_numpy_values_as_builtins() -> None:
    sample = p.Sample(
        t=np.float64(1.5),
        x_px=np.float32(10.25),
        y_px=3,
        x_m=None,
        y_m=np.float64(0.5),
        vy_mps=np.float32(-1.25),
        confidence=np.float64(0.9),
        frame=np.int64(7),
        keypoints=np.zeros((33, 3), np.float32).tolist(),
    )
    body = msgpack.unpackb(p.encode(sample), raw=False)
    assert body["type"] == "sample" and body["v"] == p.PROTOCOL_VERSION
    assert body["t"] == 1.5 and body["y_m"] == 0.5 and body["vy_mps"] == -1.25
    assert body["frame"] == 7 and len(body["keypoints"]) == 33
    summary = p.LiftSummary(1, 1.9, 1.2, {"first_pull": 0.4}, "type_2", 0.8, 3.1)
    assert p.decode_server(p.encode(summary))["phase_durations_s"] == {"first_pull": 0.4}


def test_start_round_trip_and_defaults() -> None:
    start = p.decode(
        pack(
            {
                "type": "start",
                "v": 1,
                "exercise": "clean",
                "units": "imperial",
                "joints": "knee,hip",
                "title": "PR",
                "want_keypoints": True,
            }
        )
    )
    assert isinstance(start, p.Start)
    assert start.joints == ("knee", "hip") and start.want_keypoints
    assert start.barbell_mass_kg == pytest.approx(220 * 0.45359237)
    assert p.decode(p.encode(p.Start(exercise="snatch", barbell_mass=80))) == p.Start(
        exercise="snatch", barbell_mass=80.0
    )
    assert p.decode(pack({"type": "ping", "v": 1, "t": 3})) == p.Ping(t=3.0)
    assert p.decode(pack({"type": "end", "v": 1})) == p.End()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "start", "v": 1, "exercise": "bench_press"}, "bad_exercise"),
        ({"type": "start", "v": 1, "exercise": "snatch", "barbell_mass": -5}, "bad_mass"),
        (
            {"type": "start", "v": 1, "exercise": "snatch", "barbell_mass": float("nan")},
            "bad_field",
        ),
        ({"type": "start", "v": 1, "exercise": "snatch", "barbell_mass": True}, "bad_field"),
        ({"type": "start", "v": 1, "exercise": "snatch", "joints": ["neck"]}, "bad_joints"),
        ({"type": "start", "v": 1, "exercise": "snatch", "units": "furlongs"}, "bad_units"),
        ({"type": "start", "v": 1, "exercise": "snatch", "colour": "red"}, "bad_field"),
        ({"type": "start", "v": 1}, "bad_field"),
        ({"type": "start", "v": 2, "exercise": "snatch"}, "bad_version"),
        ({"type": "start", "exercise": "snatch"}, "bad_version"),
        ({"type": "launch", "v": 1}, "bad_type"),
        ({"type": "frame", "v": 1, "t": 0.0}, "bad_type"),
        ({"type": "frame", "v": 1, "t": 0.0, "jpeg": b"\xff\xd8"}, "bad_msgpack"),
        ({"type": "ping", "v": 1, "t": "soon"}, "bad_field"),
        ([1, 2, 3], "bad_message"),
        ({1: 2}, "bad_msgpack"),
    ],
)
def test_bad_messages_are_refused_with_a_code_naming_the_problem(body: object, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode(pack(body))
    assert info.value.code == code


def test_size_limits_and_text_frames() -> None:
    big = pack({"type": "start", "v": 1, "exercise": "snatch", "title": "x" * 5000})
    with pytest.raises(p.ProtocolError, match="exceeds") as info:
        p.decode(big)
    assert info.value.code == "too_large"
    with pytest.raises(p.ProtocolError) as info:
        p.decode(pack({"type": "start", "v": 1, "exercise": "snatch", "title": "x" * 201}))
    assert info.value.code in ("bad_title", "bad_msgpack")
    with pytest.raises(p.ProtocolError, match="binary"):
        p.decode('{"type": "start"}')
    frame = pack({"type": "frame", "v": 1, "t": 0.5, "jpeg": b"\xff\xd8" + bytes(100)})
    assert isinstance(p.decode(frame, allow_frames=True), p.Frame)
    with pytest.raises(p.ProtocolError) as info:
        p.decode(
            pack({"type": "frame", "v": 1, "t": 0.5, "jpeg": bytes(p.MAX_FRAME_BYTES)}),
            allow_frames=True,
        )
    assert info.value.code == "too_large"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_anything_but_protocol_error(data: bytes) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.decode(data, allow_frames=True)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["type", "v", "exercise", "t", "joints", "title", "barbell_mass", "x"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**63), 2**64 - 1),
            st.floats(),
            st.text(max_size=5),
            st.binary(max_size=5),
            st.lists(st.integers(0, 9), max_size=3),
        ),
    )
)
def test_random_maps_never_escape_as_anything_but_protocol_error(body: dict[str, object]) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.decode(pack(body))
