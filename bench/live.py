"""Live latency and throughput: N concurrent WebRTC clients streaming a 480p30 clip to the server.

For each N a fresh `liftstream serve` runs as a subprocess (its own process, so its peak memory
is its own and it does not share an interpreter with the clients), on loopback, with the real
app: auth, the shared pose service, the per-connection live pipeline, the recorder. One short
warm-up stream runs first (the models' first runs are not counted). Then N aiortc clients in this
process connect at once and each plays the clip at its own presentation times.

The clients send pre-encoded H.264 (the clip is encoded once, Annex B, no B-frames, a key frame
every second) and aiortc packs those packets into RTP as they are: a client spends nothing on
encoding, so 8 clients on the same 2 cores load the machine far less than 8 encoders would.

Frame-to-event latency, exactly: for frame i of a stream, t_send = time.perf_counter() when the
client's track hands the frame's packet to aiortc (which packetises, encrypts and sends it at
once); t_rx = time.perf_counter() in the client's data-channel handler when the `sample` for that
frame arrives. The sample is matched to its frame by its `t` (the stream clock: the server stamps
t = (pts - pts0) / 90 kHz and the client set pts = round(t_i * 90 kHz), so t is exact). Both ends
of the measure are in this process, on one clock. It covers RTP send, the server's jitter buffer,
H.264 decode, the latest-frame slot, pose + bar + phases, msgpack and the data channel back; not a
camera or an encoder. Note that aiortc's receiver completes a video frame only when the first
packet of the next frame arrives, which holds each frame about one frame interval (33 ms at
30 fps) before the server sees it; the server's own figure (`/metrics`: arrival at the server to
sample sent) is reported beside it.

A frame "without a sample" was dropped somewhere (replaced in the server's latest-frame slot,
lost in transport, or its sample dropped at a full data channel); the server's counters say
which. A stream runs at full rate when samples arrive for at least FULL_RATE of its frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_env import REPO
from bench.stats import RTP_HZ, Spread, match_samples, rate, ticks

FULL_RATE = 0.95
WARMUP_FRAMES = 20
_RTP_CLOCK = fractions.Fraction(1, RTP_HZ)
_TRAIL_S = 0.6  # after the last frame: time for its sample to come back


@dataclass(frozen=True)
class EncodedClip:
    """A clip as H.264 Annex B access units. t: (N,) s from 0; packets: one per frame."""

    name: str
    size: tuple[int, int]
    t: tuple[float, ...]
    packets: tuple[bytes, ...]

    @property
    def fps(self) -> float:
        return (len(self.t) - 1) / (self.t[-1] - self.t[0]) if len(self.t) > 1 else 0.0

    @property
    def duration_s(self) -> float:
        return self.t[-1] - self.t[0] + (1.0 / self.fps if self.fps else 0.0)


def encode_clip(
    video: Path, name: str, height: int = 480, max_frames: int | None = None
) -> EncodedClip:
    """Decode `video` (presentation times kept), scale to `height` rows, encode to H.264 packets:
    baseline, zero-latency (no B-frames, one packet per frame), a key frame every 30 frames."""
    import av
    import cv2

    from server.video.reader import VideoReader

    encoder: Any = None
    times: list[float] = []
    packets: list[bytes] = []
    size = (0, 0)
    with VideoReader(video, max_side=None) as reader:
        for frame in reader:
            if max_frames is not None and len(times) >= max_frames:
                break
            rgb = frame.rgb
            h, w = rgb.shape[:2]
            size = (2 * round(w * height / h / 2), height)
            if encoder is None:
                encoder = av.CodecContext.create("libx264", "w")
                encoder.width, encoder.height = size
                encoder.pix_fmt = "yuv420p"
                encoder.time_base = _RTP_CLOCK
                encoder.options = {
                    "preset": "veryfast",
                    "tune": "zerolatency",
                    "profile": "baseline",
                    "g": "30",
                    "crf": "20",
                }
            scaled = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
            video_frame = av.VideoFrame.from_ndarray(scaled, format="rgb24")
            video_frame.pts = ticks(frame.t)
            out = encoder.encode(video_frame)
            if len(out) != 1:
                raise RuntimeError(f"{video}: the encoder returned {len(out)} packets for a frame")
            times.append(float(frame.t))
            packets.append(bytes(out[0]))
    if encoder is None:
        raise RuntimeError(f"{video} has no frame")
    t0 = times[0]
    return EncodedClip(name, size, tuple(t - t0 for t in times), tuple(packets))


def _packet_track(clip: EncodedClip, limit: int | None) -> Any:
    """A MediaStreamTrack releasing clip packet i at its presentation time (after `go`)."""
    import av
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class PacketTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.go = asyncio.Event()
            self.done = asyncio.Event()
            self.sent: dict[int, float] = {}
            self._i = 0
            self._t0 = 0.0
            self._n = len(clip.t) if limit is None else min(limit, len(clip.t))

        async def recv(self) -> Any:
            await self.go.wait()
            if self._i >= self._n:
                self.done.set()
                self.stop()
                raise MediaStreamError
            if self._i == 0:
                self._t0 = time.perf_counter()
            t = clip.t[self._i]
            delay = self._t0 + t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            packet = av.Packet(clip.packets[self._i])
            packet.pts = ticks(t)
            packet.time_base = _RTP_CLOCK
            self._i += 1
            self.sent[packet.pts] = time.perf_counter()
            return packet

    return PacketTrack()


@dataclass
class StreamRun:
    """One client's view. sent: frame tick -> send time. samples: (t, receipt time)."""

    connection_id: str = ""
    sent: dict[int, float] = field(default_factory=dict)
    samples: list[tuple[float, float]] = field(default_factory=list)
    other: dict[str, int] = field(default_factory=dict)
    summaries_at: list[float] = field(default_factory=list)
    error: str | None = None


async def _stream(
    url: str,
    token: str,
    clip: EncodedClip,
    exercise: str,
    connected: asyncio.Event,
    ready: asyncio.Event,
    limit: int | None = None,
) -> tuple[StreamRun, Any]:
    """Connect (then set `connected`), wait for `ready` (all clients connected), play the clip;
    returns the run and the still-open peer connection (closed by the caller after reading the
    server's metrics)."""
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    from server.stream import protocol as p
    from server.stream.client import post_offer
    from server.stream.ice import use_loopback_candidates

    use_loopback_candidates(True)  # loopback only: the server is on this machine
    run = StreamRun()
    pc = RTCPeerConnection()
    track = _packet_track(clip, limit)
    channel = pc.createDataChannel("liftstream")
    transceiver = pc.addTransceiver(track, direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    transceiver.setCodecPreferences(h264)
    opened = asyncio.Event()

    @channel.on("open")
    def on_open() -> None:
        opened.set()

    @channel.on("message")
    def on_message(data: bytes | str) -> None:
        received = time.perf_counter()
        if isinstance(data, str):
            return
        msg = p.decode_server(data)
        if msg["type"] == "sample":
            run.samples.append((float(msg["t"]), received))
        else:
            run.other[msg["type"]] = run.other.get(msg["type"], 0) + 1
            if msg["type"] == "lift_summary":
                run.summaries_at.append(received)

    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await asyncio.to_thread(post_offer, url, token, pc.localDescription.sdp)
        run.connection_id = str(answer.get("connection_id", ""))
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(opened.wait(), timeout=20)
        connected.set()
        await ready.wait()
        channel.send(p.encode(p.Start(exercise=exercise)))
        track.go.set()
        await track.done.wait()
        await asyncio.sleep(_TRAIL_S)
    except Exception as exc:  # one failed client is reported, the others go on
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        connected.set()
    run.sent = dict(track.sent)
    return run, pc


async def _clients(
    url: str, token: str, clip: EncodedClip, exercise: str, n: int, limit: int | None = None
) -> tuple[list[StreamRun], dict[str, Any]]:
    """N clients at once; the server's metrics are read while their connections are open."""
    ready = asyncio.Event()
    connected = [asyncio.Event() for _ in range(n)]
    tasks = [
        asyncio.create_task(_stream(url, token, clip, exercise, c, ready, limit)) for c in connected
    ]
    # Connecting takes a while per client (ICE, DTLS): all start sending together.
    await asyncio.wait([asyncio.create_task(c.wait()) for c in connected], timeout=60)
    ready.set()
    done = await asyncio.gather(*tasks)
    metrics = await asyncio.to_thread(_get_json, f"{url}/metrics?format=json")
    for _, pc in done:
        await pc.close()
    return [run for run, _ in done], metrics


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _family(pid: int) -> list[int]:
    """pid and its descendants (Linux /proc): the server and its jobs' analysis processes."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except (OSError, ValueError):
                continue
    return out


def _proc_files(pid: int, name: str) -> list[str]:
    """/proc/<p>/<name> of the server and of each of its analysis processes still running."""
    texts = []
    for p in _family(pid):
        with contextlib.suppress(OSError):
            texts.append(Path(f"/proc/{p}/{name}").read_text())
    return texts


def _vm_hwm_mib(pid: int) -> float | None:
    """Peak resident memory of the server and its analysis processes, MiB: the sum of each
    one's high-water mark (VmHWM), an upper bound of their peak together."""
    peaks = [
        int(line.split()[1]) / 1024.0
        for text in _proc_files(pid, "status")
        for line in text.splitlines()
        if line.startswith("VmHWM:")
    ]
    return round(sum(peaks), 1) if peaks else None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds so far of the server and its analysis processes (Linux /proc),
    None elsewhere."""
    stats = [text.rsplit(")", 1)[1].split() for text in _proc_files(pid, "stat")]
    # after the command name: state is field 3, utime and stime are fields 14 and 15
    ticks = [int(f[11]) + int(f[12]) for f in stats]
    return sum(ticks) / os.sysconf("SC_CLK_TCK") if ticks else None


@contextlib.contextmanager
def server_process(data_dir: Path, variant: str, log: Path) -> Any:
    """`liftstream serve` on a free loopback port; yields (url, token, Popen)."""
    from server.auth.local import LocalTokens
    from server.settings import Settings

    port = _free_port()
    env = dict(os.environ)
    env.update(
        LIFTSTREAM_DATA_DIR=str(data_dir),
        LIFTSTREAM_HOST="127.0.0.1",
        LIFTSTREAM_PORT=str(port),
        LIFTSTREAM_LANDMARK_VARIANT=variant,
    )
    # Minted before start: the server then reads the secret this creates in the data folder.
    token = LocalTokens.from_settings(Settings.from_env(data_dir=data_dir)).mint(
        "bench", plan="pro"
    )
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited ({proc.returncode}); see {log}")
                with contextlib.suppress(OSError):
                    _get_json(f"{url}/healthz")
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer within 60 s; see {log}")
                time.sleep(0.1)
            yield url, token, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _stream_row(run: StreamRun, fps: float, server: dict[str, Any]) -> dict[str, Any]:
    matched = match_samples(run.sent, run.samples)
    sent = len(run.sent)
    times = sorted(run.sent.values())
    span = times[-1] - times[0] + 1.0 / fps if len(times) > 1 else 0.0
    # Frames sent before the first lift summary: after it the server finalises that lift (a
    # full offline analysis in its job thread) while the stream goes on.
    cut = min(run.summaries_at, default=float("inf"))
    early = match_samples({k: v for k, v in run.sent.items() if v < cut}, run.samples)
    received = int(server.get("frames_received", 0))
    processed = int(server.get("frames_processed", 0))
    return {
        "frames_sent": sent,
        "frames_received": received,
        "frames_processed": processed,
        "dropped_frames": server.get("dropped_frames"),
        "late_frames": server.get("late_frames"),
        "samples": len(matched.latencies_s),
        "sent_fps": round(rate(sent, span), 2),
        "received_fps": round(rate(received, span), 2),
        "processed_fps": round(rate(processed, span), 2),
        "full_rate": sent > 0 and processed >= FULL_RATE * sent,
        "latency_ms": Spread.of_seconds(matched.latencies_s).rounded(1),
        "latency_before_finalise_ms": Spread.of_seconds(early.latencies_s).rounded(1),
        "unmatched_samples": matched.unmatched,
        "server_latency_ms": _ms(server, "latency"),
        "server_processing_ms": _ms(server, "processing"),
        "dropped_samples": server.get("dropped_samples"),
        "lift_summaries": len(run.summaries_at),
        "phase_events": run.other.get("phase", 0),
        **({"error": run.error} if run.error else {}),
    }


def summarise(
    n: int, clip: EncodedClip, runs: list[StreamRun], metrics: dict[str, Any]
) -> dict[str, Any]:
    """One row per N: per-stream rates and latency, pooled latency, the server's own figures.
    Server counters come from its /metrics, per connection, read before the clients hang up."""
    server = {s["connection_id"]: s for s in metrics.get("streams", [])}
    streams = [_stream_row(r, clip.fps, server.get(r.connection_id, {})) for r in runs]
    latencies: list[float] = []
    early: list[float] = []
    for run in runs:
        latencies += match_samples(run.sent, run.samples).latencies_s
        cut = min(run.summaries_at, default=float("inf"))
        early += match_samples(
            {k: v for k, v in run.sent.items() if v < cut}, run.samples
        ).latencies_s

    def mean(key: str) -> float:
        return round(float(np.mean([s[key] for s in streams])), 2)

    return {
        "clip": clip.name,
        "streams": n,
        "frames_sent": sum(s["frames_sent"] for s in streams),
        "sent_fps_per_stream": mean("sent_fps"),
        "received_fps_per_stream": mean("received_fps"),
        "processed_fps_per_stream": mean("processed_fps"),
        "min_processed_fps": round(min(s["processed_fps"] for s in streams), 2),
        "dropped_frames": sum(int(s["dropped_frames"] or 0) for s in streams),
        "all_full_rate": all(s["full_rate"] for s in streams),
        "latency_ms": Spread.of_seconds(latencies).rounded(1),
        "latency_before_finalise_ms": Spread.of_seconds(early).rounded(1),
        "server_processing_p50_ms": round(
            float(np.mean([s["server_processing_ms"]["p50_ms"] for s in streams])), 1
        ),
        "server_latency_p99_ms": round(max(s["server_latency_ms"]["p99_ms"] for s in streams), 1),
        "errors": [s["error"] for s in streams if "error" in s],
        "per_stream": streams,
    }


def _ms(stream: dict[str, Any], key: str) -> dict[str, float]:
    """The server's summary of `key` (latency or processing) for a connection, ms."""
    summary = stream.get(key, {})
    return {k: round(float(summary.get(k, 0.0)), 1) for k in ("p50_ms", "p99_ms", "max_ms")}


async def _until_idle(pid: int, cores: float = 0.15, timeout_s: float = 180.0) -> None:
    """Wait until the process uses under `cores` CPU over a second (or timeout_s passed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = _cpu_s(pid)
        await asyncio.sleep(1.0)
        after = _cpu_s(pid)
        if before is None or after is None or after - before < cores:
            return


async def _measure(
    clip: EncodedClip, exercise: str, counts: list[int], variant: str, tmp: Path, warm_up: bool
) -> list[dict[str, Any]]:
    rows = []
    for n in counts:
        data = tmp / f"live-{clip.name.replace(' ', '-')}-{n}"
        with server_process(data, variant, data.with_suffix(".log")) as (url, token, proc):
            if warm_up:
                warm, _ = await _clients(url, token, clip, exercise, 1, limit=WARMUP_FRAMES)
                if warm[0].error:
                    raise RuntimeError(f"warm-up stream failed: {warm[0].error}")
                # The warm-up connection closes before the measured ones, and the server
                # finalises what it recorded (a lift had started in it): that offline analysis
                # would otherwise run on the same cores during the measurement.
                await _until_idle(proc.pid)
            wall0, client0, server0 = time.perf_counter(), time.process_time(), _cpu_s(proc.pid)
            runs, metrics = await _clients(url, token, clip, exercise, n)
            wall = time.perf_counter() - wall0
            row = summarise(n, clip, runs, metrics)
            # cores busy on average while the streams ran: is the server (or are the clients,
            # on the same machine) using the whole CPU?
            row["client_cores"] = round((time.process_time() - client0) / wall, 2)
            server_cpu = _cpu_s(proc.pid)
            if server_cpu is not None and server0 is not None:
                row["server_cores"] = round((server_cpu - server0) / wall, 2)
            row["server_peak_rss_mib"] = _vm_hwm_mib(proc.pid)
            row["size"] = f"{clip.size[0]}x{clip.size[1]}"
            row["variant"] = variant
            rows.append(row)
    return rows


def run_live(
    clips: list[tuple[EncodedClip, str]],
    counts: list[int],
    variant: str,
    tmp: Path,
    warm_up: bool = True,
) -> list[dict[str, Any]]:
    """Rows for every clip and N (fresh server each); a failure is a row with an error."""
    rows: list[dict[str, Any]] = []
    for clip, exercise in clips:
        try:
            rows += asyncio.run(_measure(clip, exercise, counts, variant, tmp, warm_up))
        except Exception as exc:  # reported in the result, the rest of the bench goes on
            rows.append({"clip": clip.name, "error": f"{type(exc).__name__}: {exc}"})
    return rows


REAL_CLIP = "snatch_side_competition_wdias.mp4"
STREAM_COUNTS = [1, 2, 4, 8]


def live_clips(tmp: Path, clips_dir: Path, short: bool) -> list[tuple[EncodedClip, str]]:
    """480p30 clips: the real competition snatch (when present, not in short mode) and a
    synthetic 854x480 snatch (no person in it: the pose detector runs on every frame)."""
    from server.synth.clip import RenderOptions, render_clip
    from server.synth.trajectory import make_trajectory

    clips = []
    real = clips_dir / REAL_CLIP
    if real.is_file() and not short:
        clips.append((encode_clip(real, "real snatch 480p30"), "snatch"))
    traj = make_trajectory("snatch", seed=1, lift_start=0.6, hold=0.2 if short else 0.8)
    path = tmp / "live-synthetic-480p.mp4"
    render_clip(
        traj, path, fps=30.0, size=(854, 480), options=RenderOptions(seed=1, noise_sigma=2.0)
    )
    limit = 30 if short else None
    clips.append((encode_clip(path, "synthetic snatch 480p30", max_frames=limit), "snatch"))
    return clips


def run(tmp: Path, clips_dir: Path, short: bool, variant: str = "full") -> list[dict[str, Any]]:
    """The live part of the result: N = 1, 2, 4, 8 (short mode: one stream, 1 s, no warm-up)."""
    counts = [1] if short else STREAM_COUNTS
    for name in ("aioice", "aiortc"):  # their INFO lines would bury the table
        logging.getLogger(name).setLevel(logging.WARNING)
    return run_live(live_clips(tmp, clips_dir, short), counts, variant, tmp, warm_up=not short)
