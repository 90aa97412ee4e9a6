"""``python -m modelstudio_emulator`` (also ``modelstudio-embeddings emulator`` and
``python -m modelstudio_embeddings.emulator``): run the emulator until Ctrl-C.

The banner goes to stderr, so stdout stays free for whatever the caller pipes; a port already
in use is one line on stderr and exit status 1."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import sys
import threading
from pathlib import Path

from .limits import RateLimitSpec
from .server import Emulator

DEFAULT_PROG = "python -m modelstudio_emulator"
EXIT_CANNOT_LISTEN = 1


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def program_name(argv0: str | None = None) -> str:
    """How the emulator was started, for ``--help`` and error lines: ``python -m
    modelstudio_emulator``, ``python -m modelstudio_embeddings.emulator``, ``python -m
    modelstudio_embeddings emulator`` or ``modelstudio-embeddings emulator`` (the console
    script), read from ``sys.argv[0]``."""
    path = Path(sys.argv[0] if argv0 is None else argv0)
    if path.name == "__main__.py":
        package = path.parent.name
        if package == "emulator" and path.parent.parent.name == "modelstudio_embeddings":
            return "python -m modelstudio_embeddings.emulator"
        if package == "modelstudio_embeddings":
            return "python -m modelstudio_embeddings emulator"
        return DEFAULT_PROG
    if path.name.startswith("modelstudio-embeddings"):  # the console script (.exe on Windows)
        return "modelstudio-embeddings emulator"
    return DEFAULT_PROG


class _ShowDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, unless there is none to say (an unset
    limit, a flag that is off) or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == argparse.SUPPRESS:
            return text
        return text + " (default: %(default)s)"


def build_parser(prog: str = DEFAULT_PROG) -> argparse.ArgumentParser:
    """The emulator's options, each with its help and its default shown."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A local emulator of Model Studio's (Qwen Cloud's) text embedding, rerank "
        "and Batch API service, for tests and demos. Its vectors are deterministic but are "
        "not the real model's.",
        formatter_class=_ShowDefaults,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument("--api-key", default="sk-emulator", help="the one key the emulator accepts")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="added latency of every answer, in ms"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="answer 429 beyond this many requests in flight (default: no limit)",
    )
    parser.add_argument(
        "--rps", type=float, default=None, help="requests per second limit (default: no limit)"
    )
    parser.add_argument(
        "--rpm", type=float, default=None, help="account requests per minute (default: no limit)"
    )
    parser.add_argument(
        "--tpm", type=float, default=None, help="account tokens per minute (default: no limit)"
    )
    parser.add_argument(
        "--burst", action="store_true", help="burst protection (needs --rpm): ramp up or get 429"
    )
    parser.add_argument(
        "--token-message",
        choices=("current", "allocated"),
        default="current",
        help="the token limit's 429 wording: 'You exceeded your current quota' or 'Allocated "
        "quota exceeded'",
    )
    parser.add_argument(
        "--base64",
        choices=("ignore", "reject", "honour"),
        default="ignore",
        help="what to do with encoding_format=base64: ignore it (answer floats), reject it "
        "with a 400, or honour it",
    )
    parser.add_argument(
        "--moderation-marker",
        default="[[BLOCKED]]",
        help="a row containing this text is refused as moderation would refuse it",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on an address beyond loopback (the emulator has no real security)",
    )
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the options, start the emulator, say on stderr where it listens, wait for a
    signal. A port already in use (or any address that cannot be bound) is one line on stderr
    and exit status 1."""
    name = prog or program_name()
    parser = build_parser(name)
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
    )
    try:
        emulator.start()
    except OSError as exc:
        reason = exc.strerror or os.strerror(exc.errno or 0) or str(exc)
        hint = " (pass another --port, or --port 0 for a free one)"
        print(
            f"{name}: error: cannot listen on {args.host}:{args.port}: {reason}"
            f"{hint if exc.errno == errno.EADDRINUSE else ''}",
            file=sys.stderr,
        )
        return EXIT_CANNOT_LISTEN
    print(
        f"Model Studio emulator on {emulator.base_url} (key: {emulator.api_key}); "
        "vectors are not the real model's. Ctrl-C stops it.",
        file=sys.stderr,
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
