"""``python -m modelstudio_embeddings demo`` (the main job) and ``... emulator``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the demo, the Batch API commands or the emulator."""
    parser = argparse.ArgumentParser(
        prog="modelstudio-embeddings",
        description="Model Studio text embeddings for LangChain and LlamaIndex.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="embed a small handbook and answer three questions")
    commands.add_parser(
        "batch", add_help=False, help="embed a corpus through the Batch API (batch --help)"
    )
    # No help of its own: ``emulator --help`` and every option go to the emulator's parser.
    commands.add_parser(
        "emulator", add_help=False, help="run the local service emulator (emulator --help)"
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from .demo import run

        return run()
    if args.command == "batch":
        from .batch.cli import main as batch_main

        return batch_main(rest)
    from modelstudio_emulator.__main__ import main as emulator_main

    return emulator_main(rest)


if __name__ == "__main__":
    sys.exit(main())
