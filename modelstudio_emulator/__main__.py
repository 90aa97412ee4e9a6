"""``python -m modelstudio_emulator`` (or ``python -m modelstudio_emulator``): run the
emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading

from .limits import RateLimitSpec
from .server import Emulator


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Parse the options, start the emulator, print where it listens, wait for a signal."""
    parser = argparse.ArgumentParser(
        prog="python -m modelstudio_emulator",
        description="A local emulator of Model Studio's text embedding service (not real vectors).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--api-key", default="sk-emulator")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--max-in-flight", type=int, default=None)
    parser.add_argument("--rps", type=float, default=None, help="requests per second limit")
    parser.add_argument("--rpm", type=float, default=None, help="account requests per minute")
    parser.add_argument("--tpm", type=float, default=None, help="account tokens per minute")
    parser.add_argument(
        "--burst", action="store_true", help="burst protection (needs --rpm): ramp up or get 429"
    )
    parser.add_argument(
        "--token-message",
        choices=("current", "allocated"),
        default="current",
        help="the token limit's 429 wording: 'You exceeded your current quota' or 'Allocated'",
    )
    parser.add_argument("--base64", choices=("ignore", "reject", "honour"), default="ignore")
    parser.add_argument("--moderation-marker", default="[[BLOCKED]]")
    parser.add_argument("--allow-remote", action="store_true", help="listen beyond loopback")
    args = parser.parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        parser.error(f"refusing to listen on {args.host}: pass --allow-remote if you mean it")
    if args.burst and args.rpm is None:
        parser.error("--burst needs --rpm: its floor is a share of the request rate")
    rate_limits = None
    if args.rpm is not None or args.tpm is not None:  # one spec for every model
        rate_limits = RateLimitSpec(
            args.rpm, args.tpm, args.burst, token_message=args.token_message
        )
    emulator = Emulator(
        args.api_key,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        max_in_flight=args.max_in_flight,
        requests_per_second=args.rps,
        base64_policy=args.base64,
        moderation_marker=args.moderation_marker,
        rate_limits=rate_limits,
    ).start()
    print(
        f"Model Studio emulator on {emulator.base_url} (key: {emulator.api_key}); "
        "vectors are not the real model's. Ctrl-C stops it.",
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
