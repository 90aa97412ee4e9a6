"""What a caller can embed (texts, images, videos) and how each becomes a content item.

A plain ``str`` is always text, even one that looks like a URL or a path: images and videos
are named explicitly, with ``Image(...)`` / ``Video(...)``, or passed as a ``pathlib.Path``,
``bytes`` or a PIL image. Every item is checked before any request (``check_item``), reading
no more of a file than its first bytes; a local image is read and base64-encoded only when the
request that carries it is built (``Content.wire``), so a folder of any size is never held in
memory at once.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Content",
    "Image",
    "Item",
    "Text",
    "Video",
    "check_item",
    "image_format",
    "read_file",
]


@dataclass(frozen=True)
class Text:
    """A text to embed (the same as passing the ``str`` itself)."""

    text: str


@dataclass(frozen=True)
class Image:
    """An image: a local path (``str`` or ``Path``), its ``bytes``, an http(s) URL, a
    ``data:image/...;base64,`` URI, or a PIL image (the ``images`` extra)."""

    source: str | os.PathLike[str] | bytes | Any


@dataclass(frozen=True)
class Video:
    """A video by its http(s) URL (the service takes video by URL only)."""

    url: str


Item = str | Text | Image | Video | Path | bytes | Any
"""One thing to embed: a ``str`` (text), ``Text``, ``Image``, ``Video``, a ``Path`` or
``bytes`` (an image), or a PIL image."""

Kind = Literal["text", "image", "video"]

# The first bytes of each image format, by name.
_MAGIC: tuple[tuple[str, bytes, int], ...] = (
    ("png", b"\x89PNG\r\n\x1a\n", 0),
    ("jpeg", b"\xff\xd8\xff", 0),
    ("bmp", b"BM", 0),
    ("gif", b"GIF8", 0),
    ("webp", b"WEBP", 8),
    ("tiff", b"II*\x00", 0),
    ("tiff", b"MM\x00*", 0),
    ("ico", b"\x00\x00\x01\x00", 0),
)
_HEAD = 16
_MIME = {"jpeg": "image/jpeg", "png": "image/png", "bmp": "image/bmp", "webp": "image/webp"}


def image_format(head: bytes) -> str | None:
    """The image format a file's first bytes say (``png``, ``jpeg``, ...), or None."""
    for name, magic, offset in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if name == "webp" and not head.startswith(b"RIFF"):
                continue
            return name
    return None


def read_file(path: Path) -> bytes:
    """A local image's bytes, read when its request is built (one place, so tests can see
    when files are read)."""
    return path.read_bytes()


@dataclass(frozen=True)
class Content:
    """One checked item, ready to become a request's content object: text, an image (a URL,
    a data URI, bytes, or a local file not read yet) or a video URL."""

    kind: Kind
    value: str | bytes | Path
    format: str | None = None
    """An image's format, where its bytes were seen."""
    size: int = 0
    """An image's bytes (0 for a URL: the service fetches it)."""

    def wire(self) -> dict[str, str]:
        """The content object for the request (a local file is read and encoded now)."""
        if self.kind == "text" or isinstance(self.value, str):
            assert isinstance(self.value, str)
            return {self.kind: self.value}
        data = read_file(self.value) if isinstance(self.value, Path) else self.value
        mime = _MIME.get(self.format or "", f"image/{self.format}")
        return {"image": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}

    @property
    def chars(self) -> int:
        """The characters a text item adds to a request (for the budget's estimate)."""
        return len(self.value) if self.kind == "text" and isinstance(self.value, str) else 0


class ItemProblem(ValueError):
    """Why one item cannot be sent (the client names the item's index)."""


def check_item(item: object, *, image_bytes: int, image_formats: frozenset[str]) -> Content:
    """The item as a ``Content``, or an ItemProblem saying what is wrong with it."""
    if isinstance(item, str):
        return _text(item)
    if isinstance(item, Text):
        return _text(item.text)
    if isinstance(item, Video):
        return Content("video", _url(item.url, "video"))
    source = item.source if isinstance(item, Image) else item
    if isinstance(source, str) and _is_remote(source):
        return Content("image", _url(source, "image"))
    if isinstance(source, str) and source.startswith("data:"):
        return _data_uri(source, image_bytes, image_formats)
    if isinstance(source, str | os.PathLike):  # a plain str was text: this is a path
        return _local(Path(source), image_bytes, image_formats)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return _checked_bytes(data, len(data), image_bytes, image_formats, "The image")
    if _is_pil(source):
        data = _pil_png(source)
        return _checked_bytes(data, len(data), image_bytes, image_formats, "The PIL image")
    raise ItemProblem(
        f"is {type(item).__name__}: pass a str (text), Text, Image(path, URL, bytes or PIL "
        "image), Video(url), a pathlib.Path or bytes"
    )


def _text(text: object) -> Content:
    if not isinstance(text, str):
        raise ItemProblem(f"is a Text of {type(text).__name__}, not of a str")
    if not text.strip():
        raise ItemProblem("is an empty or whitespace-only text")
    return Content("text", text)


def _is_remote(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _url(url: object, what: str) -> str:
    if not isinstance(url, str):
        raise ItemProblem(f"is a {what} of {type(url).__name__}, not a URL")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ItemProblem(f"is a {what} URL the service cannot fetch ({url!r:.80}): use http(s)")
    return url


def _local(path: Path, limit: int, formats: frozenset[str]) -> Content:
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(_HEAD)
    except FileNotFoundError:
        raise ItemProblem(f"is a file that does not exist: {path}") from None
    except IsADirectoryError:
        raise ItemProblem(f"is a directory, not an image file: {path}") from None
    except OSError as error:
        raise ItemProblem(f"is a file that cannot be read ({error.strerror}): {path}") from None
    checked = _checked(head, size, limit, formats, f"The file {path}")
    return Content("image", path, checked, size)


def _data_uri(uri: str, limit: int, formats: frozenset[str]) -> Content:
    header, comma, payload = uri.partition(",")
    if not comma or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise ItemProblem("is a data URI that is not data:image/<format>;base64,<data>")
    try:
        head = base64.b64decode(payload[:24], validate=True)
    except (binascii.Error, ValueError):
        raise ItemProblem("is a data URI whose data is not base64") from None
    size = len(payload) * 3 // 4 - payload[-2:].count("=")
    checked = _checked(head, size, limit, formats, "The data URI's image")
    return Content("image", uri, checked, size)


def _checked_bytes(
    data: bytes, size: int, limit: int, formats: frozenset[str], what: str
) -> Content:
    return Content("image", data, _checked(data[:_HEAD], size, limit, formats, what), size)


def _checked(head: bytes, size: int, limit: int, formats: frozenset[str], what: str) -> str:
    found = image_format(head)
    if found is None:
        raise ItemProblem(f"is not an image: {what} does not begin like any image format")
    if found not in formats:
        raise ItemProblem(
            f"is a {found.upper()} image; this model takes {', '.join(sorted(formats))}"
        )
    if size > limit:
        raise ItemProblem(
            f"is an image of {size:,} bytes, over this model's {limit:,} bytes per image"
        )
    return found


def _is_pil(value: object) -> bool:
    return any(
        kind.__module__.startswith("PIL.") and kind.__name__ == "Image"
        for kind in type(value).__mro__
    )


def _pil_png(image: Any) -> bytes:
    """A PIL image as PNG bytes (encoded when checked: the caller holds it in memory already)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
