"""Small captioned PNGs for tests and demos, written and read with zlib and struct alone.

The emulator's multimodal endpoint embeds a PNG that carries a ``tEXt`` chunk with the key
``caption`` near the text vector of that caption, so a text query finds its image. Any image
without one gets a vector from a hash of its bytes. Pillow is never needed.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["CAPTION_KEY", "captioned_png", "png_caption", "png_size"]

CAPTION_KEY = "caption"
"""The ``tEXt`` key the emulator reads an image's caption from."""

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def captioned_png(caption: str, size: tuple[int, int] = (8, 8), *, padding: int = 0) -> bytes:
    """A valid RGB PNG of ``size`` pixels, coloured from the caption, whose ``tEXt`` chunk
    ``caption`` holds ``caption`` (Latin-1, as the PNG standard wants). ``padding`` adds that
    many bytes in a private ancillary chunk, for tests of size limits."""
    width, height = size
    if width < 1 or height < 1:
        raise ValueError("size must be at least 1x1 pixels")
    red, green, blue = hashlib.blake2b(caption.encode("utf-8"), digest_size=3).digest()
    row = b"\x00" + bytes((red, green, blue)) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    text = CAPTION_KEY.encode("latin-1") + b"\x00" + caption.encode("latin-1", "replace")
    chunks = [
        _chunk(b"IHDR", header),
        _chunk(b"tEXt", text),
        _chunk(b"IDAT", zlib.compress(row * height)),
    ]
    if padding:
        chunks.insert(2, _chunk(b"pdDg", bytes(padding)))
    return _SIGNATURE + b"".join(chunks) + _chunk(b"IEND", b"")


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(kind, data) of every chunk of a PNG, as far as it is well formed."""
    if not data.startswith(_SIGNATURE):
        return []
    found: list[tuple[bytes, bytes]] = []
    at = len(_SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        found.append((kind, data[at + 8 : at + 8 + length]))
        if kind == b"IEND":
            break
        at += 12 + length
    return found


def png_caption(data: bytes) -> str | None:
    """The ``caption`` text of a PNG, or None (not a PNG, or no such chunk)."""
    for kind, chunk in _chunks(data):
        if kind == b"tEXt":
            key, _, value = chunk.partition(b"\x00")
            if key == CAPTION_KEY.encode("latin-1"):
                return value.decode("latin-1")
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG from its header, or None."""
    for kind, chunk in _chunks(data)[:1]:
        if kind == b"IHDR" and len(chunk) >= 8:
            width, height = struct.unpack(">II", chunk[:8])
            return int(width), int(height)
    return None
