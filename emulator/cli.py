"""`python -m emulator --seed FILE`: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from .emulator import Emulator
from .seed import SeedError, load_seed_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Serve a local ARM emulator seeded from ARM JSON."
    )
    parser.add_argument("--seed", help='seed file: {"resources": [<ARM GET bodies>]}')
    parser.add_argument("--port", type=int, default=0, help="HTTPS port on 127.0.0.1 (default: any free)")
    parser.add_argument(
        "--time-factor",
        type=float,
        default=0.01,
        help="scale of realistic LRO durations (0 = done by the first poll; default 0.01)",
    )
    parser.add_argument("--conflict-mode", choices=("409", "429", "supersede"), default="409")
    parser.add_argument("--token-buckets", action="store_true", help="enforce ARM's per-subscription buckets")
    parser.add_argument("--strict-if-match", action="store_true", help="412 on a non-matching If-Match")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        seed = load_seed_file(args.seed) if args.seed else None
        emu = Emulator(
            seed,
            port=args.port,
            time_factor=args.time_factor,
            conflict_mode=args.conflict_mode,
            token_buckets=args.token_buckets,
            strict_if_match=args.strict_if_match,
        )
    except (OSError, SeedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
    with emu:
        for name, value in emu.env().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        print(
            f"# ARM emulator serving {len(emu.dump()['resources'])} resources; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0
