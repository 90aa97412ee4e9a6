"""Captioned PNG files for the adapters' multimodal tests: the emulator embeds each picture next
to its caption, so a caption's text query finds it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from modelstudio_emulator.images import captioned_png

SCENES = (
    "a red bicycle leaning on a wall",
    "a white cat asleep on a sofa",
    "a bowl of ramen with an egg",
    "a lighthouse at dusk",
    "snow on a mountain hut",
    "a yellow taxi in the rain",
)
"""Six captions far enough apart that each picture's nearest caption is its own."""


def write_pictures(folder: Path, captions: Iterable[str], stem: str = "picture") -> list[str]:
    """One captioned PNG per caption in ``folder`` (``{stem}-{i}.png``); their paths, in order."""
    paths = []
    for i, caption in enumerate(captions):
        path = folder / f"{stem}-{i}.png"
        path.write_bytes(captioned_png(caption))
        paths.append(str(path))
    return paths
