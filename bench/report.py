"""The short printed table of the peers and live parts of a bench result (the JSON has it all)."""

from __future__ import annotations

from typing import Any


def _f(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def peer_lines(peers: dict[str, Any]) -> list[str]:
    lines = [f"peers: {peers['peers']}"]
    lines.append("pose vs mediapipe (ms/frame): variant clip ours mediapipe ratio found ours/mp")
    for r in peers["pose_vs_mediapipe"]:
        if "error" in r:
            lines.append(f"  {r['variant']}: ERROR {r['error']}")
            continue
        lines.append(
            f"  {r['variant']:<6} {r['clip'][:38]:<38} {_f(r['ours_ms']):>7} "
            f"{_f(r.get('mediapipe_ms')):>7} {_f(r.get('ratio'), '.2f'):>5} "
            f"{_f(r['ours_found'], '.2f')}/{_f(r.get('mediapipe_found'), '.2f')}"
            + (f"  {r['peer_error']}" if "peer_error" in r else "")
        )
    lines.append(
        "pipeline (pose+bar+phases) vs mediapipe pose only (fps): variant clip ours mp ratio"
    )
    for r in peers["pipeline_vs_mediapipe"]:
        if "error" in r and "clip" not in r:
            lines.append(f"  {r['variant']}: ERROR {r['error']}")
            continue
        lines.append(
            f"  {r['variant']:<6} {r['clip'][:38]:<38} {_f(r['ours_pipeline_fps']):>6} "
            f"{_f(r['mediapipe_pose_fps']):>6} {_f(r['ratio'], '.2f'):>5}"
        )
    lines.append(
        "bar tracking: clip tracker ms/frame rmse_px rmse_mm lost off time_ratio rmse_ratio"
    )
    for r in peers["bar_vs_opencv"]:
        if "tracker" not in r:
            lines.append(f"  {r.get('note') or r.get('error')}")
            continue
        lines.append(
            f"  {r['clip'][:36]:<36} {r['tracker']:<5} {_f(r['ms_per_frame'], '.2f'):>7} "
            f"{_f(r['rmse_px'], '.2f'):>7} {_f(r['rmse_mm'], '.1f'):>6} {r['lost_frames']:>4} "
            f"{r['off_target_frames']:>4} {_f(r.get('time_ratio'), '.2f'):>5} "
            f"{_f(r.get('rmse_ratio'), '.3f'):>6}"
        )
    lines.append(
        "peak memory (MiB): "
        + ", ".join(f"{m['what']} {_f(m.get('peak_rss_mib'), '.0f')}" for m in peers["memory"])
    )
    return lines


def live_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "live (per stream fps: sent/received/processed; frame-to-event ms over all samples; "
        "server = arrival to sample sent)"
    ]
    lines.append(
        "  clip N sent recv proc dropped full p50 p99 p99-before-finalise server-p99 "
        "rss-MiB server/client-cores"
    )
    for r in rows:
        if "error" in r and "streams" not in r:
            lines.append(f"  {r['clip']}: ERROR {r['error']}")
            continue
        lat, early = r["latency_ms"], r["latency_before_finalise_ms"]
        lines.append(
            f"  {r['clip'][:24]:<24} {r['streams']:>2} {r['sent_fps_per_stream']:>5.1f} "
            f"{r['received_fps_per_stream']:>5.1f} {r['processed_fps_per_stream']:>5.1f} "
            f"{r['dropped_frames']:>5} {'yes' if r['all_full_rate'] else 'no':>3} "
            f"{lat['p50_ms']:>6.1f} {lat['p99_ms']:>6.1f} {early['p99_ms']:>6.1f} "
            f"{r['server_latency_p99_ms']:>6.1f} {_f(r.get('server_peak_rss_mib'), '.0f'):>5} "
            f"{_f(r.get('server_cores'), '.2f')}/{_f(r.get('client_cores'), '.2f')}"
            + (f"  errors: {r['errors']}" if r.get("errors") else "")
        )
    return lines
