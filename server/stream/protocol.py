"""The live-stream wire protocol: msgpack maps with a `type` and a protocol version `v`.

The same messages travel over a WebRTC data channel and over a WebSocket. Every message is a
frozen dataclass here; `encode` turns it into builtins (numpy scalars do not pack) and `decode`
checks a client's bytes strictly: size, msgpack shape, known `type`, version, field names and
field types. A bad message raises ProtocolError, whose `code` and message the session sends back
as an `error` message; it never ends the connection by itself.

Units on the wire are SI (metres, metres per second, seconds) whatever `units` the client asks
for; `units` selects the measurement system of the finalised session report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import msgpack

from server.errors import InvalidInputError

PROTOCOL_VERSION = 1
# Control messages are tiny; anything bigger is a client bug or an attack.
MAX_CONTROL_BYTES = 4 * 1024
# A WebSocket `frame` message carries one JPEG; 480p-1080p JPEGs are well under this.
MAX_FRAME_BYTES = 2 * 1024 * 1024
MAX_TITLE_CHARS = 200
EXERCISES = ("snatch", "clean", "clean_and_jerk")
JOINTS = ("ankle", "knee", "elbow", "hip", "shoulder")
UnitSystem = Literal["metric", "imperial"]


class ProtocolError(InvalidInputError):
    """A client message that cannot be accepted; `code` is the `error` message's code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# ---------------------------------------------------------------- server -> client


@dataclass(frozen=True)
class Hello:
    """Sent once when the channel opens. max_message_bytes: the largest control message accepted."""

    TYPE: ClassVar[str] = "hello"
    connection_id: str
    transport: str
    max_message_bytes: int = MAX_CONTROL_BYTES


@dataclass(frozen=True)
class Sample:
    """The bar in one processed frame.

    t: s, the frame's presentation time from the stream's own clock (0 = first frame).
    x_m, y_m: bar centre in metres (x in the lifter's facing direction, y up, above the floor once
    the floor is known); None before calibration. x_px, y_px: pixels (x right, y down).
    vy_mps: vertical bar velocity, m/s (up positive); None before calibration.
    confidence: [0, 1] tracking confidence. keypoints: 33 [x_px, y_px, visibility] rows, only
    when the client asked with want_keypoints.
    """

    TYPE: ClassVar[str] = "sample"
    t: float
    x_px: float
    y_px: float
    x_m: float | None
    y_m: float | None
    vy_mps: float | None
    confidence: float
    frame: int
    keypoints: list[list[float]] | None = None


@dataclass(frozen=True)
class Phase:
    """A lift phase started at t (s, stream clock). lift: index of the lift on this connection."""

    TYPE: ClassVar[str] = "phase"
    name: str
    t: float
    lift: int


@dataclass(frozen=True)
class LiftSummary:
    """Sent when a lift ends. Velocities m/s, heights m above the floor, durations s."""

    TYPE: ClassVar[str] = "lift_summary"
    lift: int
    peak_velocity_mps: float | None
    max_height_m: float | None
    phase_durations_s: dict[str, float]
    bar_path_type: str | None
    start_t: float
    end_t: float


@dataclass(frozen=True)
class LiftCancelled:
    """The lift announced (its first_pull) was not one: the bar came back down at t without an
    Olympic pull (a pull to the knee, a deadlift, a tracking glitch). No summary or session
    follows for it, and its number is given to the next lift."""

    TYPE: ClassVar[str] = "lift_cancelled"
    lift: int
    t: float


@dataclass(frozen=True)
class SessionReady:
    """The lift was finalised into a stored session, readable through the REST API at `urls`."""

    TYPE: ClassVar[str] = "session"
    lift: int
    session_id: str
    urls: dict[str, str]


@dataclass(frozen=True)
class Ended:
    """Answer to the client's `end`: lift is the lift being finalised now (a `session` or an
    `error` for it follows), or None when there was nothing to finalise."""

    TYPE: ClassVar[str] = "ended"
    lift: int | None


@dataclass(frozen=True)
class Error:
    """Something the client should know; fatal means the server is closing the connection.
    lift: the lift it concerns (finalisation errors), else None."""

    TYPE: ClassVar[str] = "error"
    code: str
    detail: str
    fatal: bool = False
    lift: int | None = None


@dataclass(frozen=True)
class Pong:
    """Answer to ping: echoes the client's t; server_time is the server's monotonic clock, s."""

    TYPE: ClassVar[str] = "pong"
    t: float | None
    server_time: float


# ---------------------------------------------------------------- client -> server


@dataclass(frozen=True)
class Start:
    """Begin analysing: what is being lifted. barbell_mass is in kg (metric) or lb (imperial);
    None means the documented default (100 kg / 220 lb)."""

    TYPE: ClassVar[str] = "start"
    exercise: str
    barbell_mass: float | None = None
    units: UnitSystem = "metric"
    joints: tuple[str, ...] = ("hip", "knee")
    title: str | None = None
    want_keypoints: bool = False

    def __post_init__(self) -> None:
        if self.exercise not in EXERCISES:
            raise ProtocolError(
                "bad_exercise", f"exercise {self.exercise!r} is not one of {', '.join(EXERCISES)}"
            )
        if self.barbell_mass is not None and not (0 < self.barbell_mass <= 1000):
            raise ProtocolError(
                "bad_mass", f"barbell_mass {self.barbell_mass!r} must be in (0, 1000]"
            )
        if self.units not in ("metric", "imperial"):
            raise ProtocolError("bad_units", f"units {self.units!r} must be metric or imperial")
        bad = [j for j in self.joints if j not in JOINTS]
        if bad or not self.joints:
            raise ProtocolError(
                "bad_joints", f"joints {list(self.joints)!r} must be a non-empty subset of {JOINTS}"
            )
        if self.title is not None and len(self.title) > MAX_TITLE_CHARS:
            raise ProtocolError("bad_title", f"title longer than {MAX_TITLE_CHARS} characters")

    @property
    def barbell_mass_kg(self) -> float:
        """The mass in kilograms, with the seed's defaults (100 kg / 220 lb)."""
        if self.units == "imperial":
            return (self.barbell_mass if self.barbell_mass is not None else 220.0) * 0.45359237
        return self.barbell_mass if self.barbell_mass is not None else 100.0


@dataclass(frozen=True)
class End:
    """The client says the lift is over: finalise what was recorded."""

    TYPE: ClassVar[str] = "end"


@dataclass(frozen=True)
class Ping:
    """Round-trip probe; t is any client number echoed back in pong."""

    TYPE: ClassVar[str] = "ping"
    t: float | None = None


@dataclass(frozen=True)
class Frame:
    """WebSocket only: one video frame. t: s, the client's capture clock; jpeg: JPEG bytes."""

    TYPE: ClassVar[str] = "frame"
    t: float
    jpeg: bytes = field(repr=False)


ServerMessage = (
    Hello | Sample | Phase | LiftSummary | LiftCancelled | SessionReady | Ended | Error | Pong
)
ClientMessage = Start | End | Ping | Frame


def _builtin(value: Any) -> Any:
    """numpy scalars and arrays, tuples and nested containers -> msgpack-safe builtins."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "tolist"):  # numpy array or scalar
        return _builtin(value.tolist())
    if isinstance(value, dict):
        return {str(k): _builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_builtin(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


def to_builtins(message: ServerMessage | ClientMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": message.TYPE, "v": PROTOCOL_VERSION}
    for f in fields(message):
        out[f.name] = _builtin(getattr(message, f.name))
    return out


def encode(message: ServerMessage | ClientMessage) -> bytes:
    """One message as msgpack bytes."""
    packed: bytes = msgpack.packb(to_builtins(message), use_bin_type=True)
    return packed


# ---------------------------------------------------------------- strict decoding

_NUM = (int, float)


def _number(name: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, _NUM) or not math.isfinite(value):
        raise ProtocolError("bad_field", f"field {name!r} must be a finite number, got {value!r}")
    return float(value)


def _string(name: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ProtocolError("bad_field", f"field {name!r} must be a string, got {value!r}")
    return value


def _check_keys(kind: str, body: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ProtocolError("bad_field", f"{kind} message has unknown fields {unknown}")
    missing = sorted(required - set(body))
    if missing:
        raise ProtocolError("bad_field", f"{kind} message lacks fields {missing}")


def _start(body: dict[str, Any]) -> Start:
    keys = {"exercise", "barbell_mass", "units", "joints", "title", "want_keypoints"}
    _check_keys("start", body, keys, {"exercise"})
    joints: Any = body.get("joints", ["hip", "knee"])
    if isinstance(joints, str):  # the REST form's comma list is accepted too
        joints = [j.strip() for j in joints.split(",") if j.strip()]
    if not isinstance(joints, list) or not all(isinstance(j, str) for j in joints):
        raise ProtocolError("bad_joints", f"joints must be a list of names, got {joints!r}")
    want = body.get("want_keypoints", False)
    if not isinstance(want, bool):
        raise ProtocolError("bad_field", f"want_keypoints must be true or false, got {want!r}")
    units = _string("units", body.get("units", "metric"))
    return Start(
        exercise=_string("exercise", body["exercise"]) or "",
        barbell_mass=_number("barbell_mass", body.get("barbell_mass"), optional=True),
        units=units,  # type: ignore[arg-type]  # checked in Start.__post_init__
        joints=tuple(joints),
        title=_string("title", body.get("title"), optional=True),
        want_keypoints=want,
    )


def _frame(body: dict[str, Any]) -> Frame:
    _check_keys("frame", body, {"t", "jpeg"}, {"t", "jpeg"})
    jpeg = body["jpeg"]
    if not isinstance(jpeg, bytes) or not jpeg:
        raise ProtocolError("bad_frame", "frame.jpeg must be non-empty binary JPEG data")
    t = _number("t", body["t"])
    assert t is not None
    return Frame(t=t, jpeg=jpeg)


def decode(data: bytes | str, *, allow_frames: bool = False) -> ClientMessage:
    """Check and decode one client message. Raises ProtocolError for anything not acceptable.

    allow_frames: accept `frame` messages (WebSocket transport) and their larger size limit.
    """
    if isinstance(data, str):
        raise ProtocolError("bad_encoding", "messages must be binary msgpack, not text")
    limit = MAX_FRAME_BYTES if allow_frames else MAX_CONTROL_BYTES
    if len(data) > limit:
        raise ProtocolError("too_large", f"message of {len(data)} bytes exceeds {limit} bytes")
    try:
        body = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_TITLE_CHARS * 4,
            max_bin_len=MAX_FRAME_BYTES if allow_frames else 0,
            max_array_len=64,
            max_map_len=32,
            max_ext_len=0,
        )
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        # Some msgpack errors carry no text (a reserved byte): name the error instead.
        why = str(exc) or type(exc).__name__
        raise ProtocolError("bad_msgpack", f"not a single msgpack message: {why}") from None
    if not isinstance(body, dict):
        raise ProtocolError("bad_message", f"message must be a map, got {type(body).__name__}")
    kind = body.pop("type", None)
    version = body.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "bad_version", f"protocol version {version!r} unsupported; use {PROTOCOL_VERSION}"
        )
    if kind == "start":
        return _start(body)
    if kind == "end":
        _check_keys("end", body, set(), set())
        return End()
    if kind == "ping":
        _check_keys("ping", body, {"t"}, set())
        return Ping(t=_number("t", body.get("t"), optional=True))
    if kind == "frame" and allow_frames:
        return _frame(body)
    raise ProtocolError("bad_type", f"unknown message type {kind!r}")


def decode_server(data: bytes) -> dict[str, Any]:
    """Client side: a server message as a plain dict (checked to be a typed, versioned map)."""
    body = msgpack.unpackb(data, raw=False)
    if not isinstance(body, dict) or "type" not in body or body.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("bad_message", f"not a LiftStream v{PROTOCOL_VERSION} message")
    return body
