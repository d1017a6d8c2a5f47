"""Live-stream measurements: per-frame processing time, frame-arrival-to-sample-sent latency,
frames received, processed and dropped.

Each connection has a ConnectionMetrics; the StreamMetrics of the app holds the totals of every
connection (live and closed) and renders them for /metrics as Prometheus-style text or JSON.
Durations are kept in bounded windows (the newest WINDOW values), so memory stays flat however
long the server runs; percentiles are over that window.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WINDOW = 4096
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """Percentiles of a window of durations, milliseconds. count: values in the window."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: deque[float] | list[float]) -> Summary:
        if not seconds:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(len(ms), float(p50), float(p90), float(p99), float(ms.max()), float(ms.mean()))


@dataclass
class Counters:
    """Frame and message counts. dropped_frames: replaced in the latest-frame slot before the
    analysis took them. late_frames: not analysed because the server received them late (it is
    behind the stream: see StreamSession). dropped_samples: not sent because the channel's
    buffer was high."""

    frames_received: int = 0
    frames_processed: int = 0
    dropped_frames: int = 0
    late_frames: int = 0
    frame_errors: int = 0
    samples_sent: int = 0
    dropped_samples: int = 0
    recorded_frames: int = 0
    dropped_recording_frames: int = 0


@dataclass
class ConnectionMetrics:
    """One connection's measurements; `total` (the app's StreamMetrics) receives every value."""

    connection_id: str
    total: StreamMetrics | None = None
    counters: Counters = field(default_factory=Counters)
    processing_s: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def count(self, name: str, n: int = 1) -> None:
        setattr(self.counters, name, getattr(self.counters, name) + n)
        if self.total is not None:
            setattr(self.total.counters, name, getattr(self.total.counters, name) + n)

    def processing(self, seconds: float) -> None:
        """Time the analysis spent on one frame (pose, bar, phases), s."""
        self.processing_s.append(seconds)
        if self.total is not None:
            self.total.processing_s.append(seconds)

    def latency(self, seconds: float) -> None:
        """Time from a frame's arrival at the server to its sample being sent, s."""
        self.latency_s.append(seconds)
        if self.total is not None:
            self.total.latency_s.append(seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            **vars(self.counters),
            "processing": vars(Summary.of(self.processing_s)),
            "latency": vars(Summary.of(self.latency_s)),
        }

    def finish(self) -> None:
        """The connection closed: count it and log its figures."""
        if self.total is not None:
            self.total.connections_closed += 1
        d = self.as_dict()
        log.info(
            "stream %s: %d frames in, %d processed, %d dropped, %d errors; "
            "processing p50 %.1f ms p99 %.1f ms; latency p50 %.1f ms p99 %.1f ms",
            self.connection_id,
            d["frames_received"],
            d["frames_processed"],
            d["dropped_frames"],
            d["frame_errors"],
            d["processing"]["p50_ms"],
            d["processing"]["p99_ms"],
            d["latency"]["p50_ms"],
            d["latency"]["p99_ms"],
        )


@dataclass
class StreamMetrics:
    """The app-wide totals. connections_*: counts of connections opened and closed."""

    counters: Counters = field(default_factory=Counters)
    processing_s: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    connections_opened: int = 0
    connections_closed: int = 0

    def connection(self, connection_id: str) -> ConnectionMetrics:
        self.connections_opened += 1
        return ConnectionMetrics(connection_id, total=self)

    def as_dict(self, live: list[ConnectionMetrics] | None = None) -> dict[str, Any]:
        return {
            "connections_open": self.connections_opened - self.connections_closed,
            "connections_opened": self.connections_opened,
            "connections_closed": self.connections_closed,
            **vars(self.counters),
            "processing": vars(Summary.of(self.processing_s)),
            "latency": vars(Summary.of(self.latency_s)),
            "streams": [m.as_dict() for m in live or []],
        }

    def as_text(self) -> str:
        """Prometheus text exposition of the totals (summaries as quantiles in seconds)."""
        d = self.as_dict()
        lines: list[str] = []
        for name in ("connections_open", "connections_opened", "connections_closed"):
            lines.append(f"liftstream_stream_{name} {d[name]}")
        for name, value in vars(self.counters).items():
            lines.append(f"liftstream_stream_{name}_total {value}")
        for metric, window in (("processing", self.processing_s), ("latency", self.latency_s)):
            s = Summary.of(window)
            key = f"liftstream_stream_{metric}_seconds"
            lines.append(f"# TYPE {key} summary")
            for q, ms in (("0.5", s.p50_ms), ("0.9", s.p90_ms), ("0.99", s.p99_ms)):
                lines.append(f'{key}{{quantile="{q}"}} {ms / 1000.0:.6f}')
            lines.append(f"{key}_count {s.count}")
        return "\n".join(lines) + "\n"
