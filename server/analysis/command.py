"""`liftstream analyze VIDEO --exercise E --out DIR`: the offline pipeline from the terminal.

The analysis writes into a scratch folder beside DIR and moves its outputs into DIR only when it
succeeded, so a failed run leaves nothing that looks like a result (and an earlier result in DIR
stays as it was).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.analysis.pipeline import AnalysisOptions, analyze_video
from server.analysis.threads import use_offline_threads
from server.analysis.units import KG_PER_LB
from server.errors import InvalidInputError
from server.settings import Settings

OUTPUTS = ("analyzed.mp4", "phases", "session.json")  # moved in this order: session.json last


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    joints = tuple(j.strip() for j in str(args.joints).split(",") if j.strip())
    mass = args.barbell_mass
    if mass is None:
        mass = 100.0 if args.units == "metric" else 220.0
    mass_kg = float(mass) * (KG_PER_LB if args.units == "imperial" else 1.0)
    height = None if args.lifter_height_cm is None else float(args.lifter_height_cm) / 100.0
    return AnalysisOptions(
        exercise=str(args.exercise),
        barbell_mass_kg=mass_kg,
        joints=joints,
        plate_diameter_m=float(args.plate_diameter_mm) / 1000.0,
        units=str(args.units),
        lifter_height_m=height,
        render=not args.no_render,
    )


def _progress_bar() -> tuple[Any, Callable[[float], None]]:
    from tqdm import tqdm

    bar = tqdm(total=100, unit="%", desc="analyse", file=sys.stderr, leave=True)
    state = {"done": 0}

    def report(fraction: float) -> None:
        pct = round(100 * min(1.0, max(0.0, fraction)))
        if pct > state["done"]:
            bar.update(pct - state["done"])
            state["done"] = pct

    return bar, report


def cli_analyze(settings: Settings, args: argparse.Namespace) -> int:
    from server.pose.service import InferenceService

    options = options_from_args(args)  # bad options fail before any work
    video = Path(args.video)
    if not video.is_file():
        raise InvalidInputError(f"video {str(video)!r} does not exist or is not a file")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {str(out)!r} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    threads = use_offline_threads()  # this process runs one pass, nothing else
    service = InferenceService(settings.model_dir, settings.landmark_variant, intra_threads=threads)
    bar, report = _progress_bar()
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        doc = analyze_video(
            video, options, scratch, service=service, progress=report, settings=settings
        )
        out.mkdir(exist_ok=True)
        for name in OUTPUTS:
            src, dst = scratch / name, out / name
            if not src.exists():
                continue
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            src.replace(dst)
    finally:
        bar.close()
        shutil.rmtree(scratch, ignore_errors=True)
        service.close()
    lift = doc["lift"]
    print(
        f"{doc['exercise']}: peak bar velocity {lift['peak_bar_velocity']['value']:.2f} m/s, "
        f"max bar height {lift['max_bar_height']['value']:.3f} m, "
        f"bar path type {lift.get('bar_path', {}).get('type', '?')}"
    )
    for warning in doc["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {out / 'session.json'}")
    return 0
