"""`liftstream` command line: serve | analyze | token | models | bench | stream-file.

Each sub-command parses its flags here and calls one function in the stage that owns the work;
imports are lazy so `liftstream models prepare` works before the heavy stages can load.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from server.errors import LiftStreamError


def _add_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="prepare or inspect the converted pose models")
    msub = p.add_subparsers(dest="models_command", required=True)
    prep = msub.add_parser("prepare", help="fetch BlazePose from PyPI/npm and convert it to ONNX")
    prep.add_argument(
        "--variant",
        action="append",
        choices=["lite", "full", "heavy"],
        help="landmark variant(s) to prepare (repeatable; default: full, plus lite and heavy when npm is present)",
    )
    prep.add_argument("--force", action="store_true", help="rebuild even if the cache is valid")
    msub.add_parser("status", help="print the model cache manifest")


def _add_analyze(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("analyze", help="analyse a recorded lift and write session.json + media")
    p.add_argument("video")
    p.add_argument("--exercise", required=True)
    p.add_argument("--barbell-mass", type=float, default=None, help="kg (default 100)")
    p.add_argument(
        "--joints", default="hip,knee", help="comma list of ankle,knee,elbow,hip,shoulder"
    )
    p.add_argument("--plate-diameter-mm", type=float, default=450.0)
    p.add_argument("--units", choices=["metric", "imperial"], default="metric")
    p.add_argument("--lifter-height-cm", type=float, default=None, help="fallback calibration")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-render", action="store_true", help="skip the annotated video")


def _add_token(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="local-mode bearer tokens")
    tsub = p.add_subparsers(dest="token_command", required=True)
    c = tsub.add_parser("create", help="mint an HS256 token for a user")
    c.add_argument("--user", required=True)
    c.add_argument("--admin", action="store_true")
    c.add_argument("--plan", default=None)
    c.add_argument("--days", type=float, default=30.0)


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="start the server")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--https", action="store_true", help="serve TLS (self-signed unless --cert)")
    p.add_argument("--cert", default=None)
    p.add_argument("--key", default=None)


def _add_stream_file(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stream-file", help="play a clip to a server over WebRTC, print events")
    p.add_argument("clip")
    p.add_argument("--server", required=True)
    p.add_argument("--token", default=None)
    p.add_argument("--exercise", default="snatch")


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="run the benchmark harness")
    p.add_argument("--short", action="store_true", help="a few seconds, for CI")
    p.add_argument("--out", default="bench/results")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liftstream", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_serve, _add_analyze, _add_token, _add_models, _add_stream_file, _add_bench):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except LiftStreamError as exc:
        print(f"liftstream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from server.settings import Settings

    settings = Settings.from_env()
    if args.command == "models":
        from server.pose import prepare

        if args.models_command == "prepare":
            return prepare.cli_prepare(settings, variants=args.variant, force=args.force)
        return prepare.cli_status(settings)
    if args.command == "analyze":
        from server.analysis import command

        return command.cli_analyze(settings, args)
    if args.command == "token":
        from server.auth import local

        return local.cli_token(settings, args)
    if args.command == "serve":
        from server import serve

        return serve.cli_serve(settings, args)
    if args.command == "stream-file":
        from server.stream import client

        return client.cli_stream_file(settings, args)
    if args.command == "bench":
        import bench.harness  # type: ignore[import-not-found]

        return int(bench.harness.main(args))
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
