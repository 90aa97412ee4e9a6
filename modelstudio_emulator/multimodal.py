"""The multimodal embedding endpoint in the emulator (pure): read a request, check the
contract's limits (``docs/multimodal-contract.md``), embed and build the answer. The server
only routes, authenticates, rate-limits and injects faults.

Vectors are deterministic and meaningful, NOT the real model's: a text is embedded as by the
text endpoints (``vectors.embed_text``); a PNG carrying a ``tEXt`` chunk ``caption``
(``images.captioned_png``) lands near its caption's text vector, so a text query finds it; any
other image, an image URL or a video URL gets a vector from a hash of its bytes or URL; a fused
request gets the normalised sum of its items' vectors. Widths above the text vectors' 2048
repeat them (cosines unchanged).

The service is never reached and nothing is downloaded: a URL whose host ends in ``.invalid``
(a name that never resolves, RFC 2606) answers ``Failed to download multimodal content``; a
string that is neither an http(s) URL nor a data URI answers ``url error, please check url!``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from .contract import EMBEDDING_MODELS
from .images import png_caption, png_size
from .tokens import count_tokens
from .vectors import FULL_WIDTH, embed_text

__all__ = [
    "ANSWER_SHAPES",
    "MULTIMODAL_MODELS",
    "MULTIMODAL_PATH",
    "MultimodalContract",
    "MultimodalRefusal",
    "MultimodalRequest",
    "answer",
    "image_vector",
    "moderated",
    "read",
    "text_vector",
    "texts_of",
]

MULTIMODAL_PATH = "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"
ANSWER_SHAPES = ("embeddings", "embedding")
"""Today's answer (``output.embeddings``, a list placed by ``index``) and the older one
(``output.embedding``, the one vector of a one-item or fused request; multimodal-embedding-v1
and one-peace answered so): the contract does not settle which a model sends now."""
_MB = 1024 * 1024
_BAD_PARAM = "<400> InternalError.Algo.InvalidParameter: "
_DOCS = " For details, see: https://help.aliyun.com/zh/model-studio/error-code#error-url"
_CAPTION_WEIGHT = 0.3
"""How far an image's own hash moves it from its caption's text vector (cosine about 0.96)."""
_URL_IMAGE_TOKENS = 256
_VIDEO_TOKENS = 1024


@dataclass(frozen=True)
class MultimodalContract:
    """One multimodal model's limits, as the service documents them."""

    dimensions: tuple[int, ...]
    """Offered widths, the default first (**uncertain** for qwen3-vl-embedding)."""
    items_per_request: int
    tokens_per_text: int
    image_bytes: int
    image_formats: frozenset[str]
    fusion: bool


_CLASSIC = frozenset({"jpeg", "png", "bmp"})

MULTIMODAL_MODELS: Mapping[str, MultimodalContract] = MappingProxyType(
    {
        "qwen3-vl-embedding": MultimodalContract(
            (2560, 2048, 1536, 1024, 768, 512, 256),
            20,
            32_000,
            5 * _MB,
            _CLASSIC | {"webp", "tiff", "ico"},
            True,
        ),
        "tongyi-embedding-vision-plus": MultimodalContract(
            (1152, 1024, 512, 256, 128, 64), 8, 1024, 3 * _MB, _CLASSIC, False
        ),
        "tongyi-embedding-vision-flash": MultimodalContract(
            (768, 512, 256, 128, 64), 8, 1024, 3 * _MB, _CLASSIC, False
        ),
        "multimodal-embedding-v1": MultimodalContract((1024,), 1, 512, 3 * _MB, _CLASSIC, False),
    }
)


class MultimodalRefusal(Exception):
    """A request the service refuses: status, code and message of its flat error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(detail: str) -> MultimodalRefusal:
    return MultimodalRefusal(400, "InvalidParameter", _BAD_PARAM + detail)


_URL_ERROR = MultimodalRefusal(400, "InvalidParameter", "url error, please check url！" + _DOCS)


@dataclass(frozen=True)
class Piece:
    """One content item: its kind and value (text, URL, or an image's decoded bytes)."""

    kind: str
    value: str | bytes
    format: str | None = None


@dataclass(frozen=True)
class MultimodalRequest:
    """One valid multimodal request."""

    model: str
    pieces: tuple[Piece, ...]
    width: int
    fusion: bool


# --- reading a body --------------------------------------------------------------------------


def _contents(body: Mapping[str, Any] | None) -> list[Any] | None:
    given = (body or {}).get("input")
    contents = given.get("contents") if isinstance(given, Mapping) else None
    return contents if isinstance(contents, list) else None


def texts_of(body: Mapping[str, Any] | None) -> list[str] | None:
    """Every string of the contents (texts, URLs; captions of PNG images): what a scripted
    fault's ``match`` and the moderation marker look in, and what the log records."""
    contents = _contents(body)
    if contents is None:
        return None
    found: list[str] = []
    for item in contents:
        for value in item.values() if isinstance(item, Mapping) else ():
            if isinstance(value, str) and value.startswith("data:"):
                caption = png_caption(_decoded(value) or b"")
                found.append(caption if caption is not None else "<image data>")
            elif isinstance(value, str):
                found.append(value)
    return found


def read(body: Mapping[str, Any]) -> MultimodalRequest:
    """The request in ``body``, or the refusal its first problem earns."""
    model = body.get("model")
    if isinstance(model, str) and model in EMBEDDING_MODELS:
        raise _URL_ERROR  # what a text model's name gets on this endpoint
    contract = MULTIMODAL_MODELS.get(model) if isinstance(model, str) else None
    if not isinstance(model, str) or contract is None:
        raise MultimodalRefusal(404, "ModelNotFound", "Model not exist.")
    contents = _contents(body)
    if not contents:
        raise _bad("Value error, contents should be a non-empty list.: input.contents")
    if len(contents) > contract.items_per_request:
        raise _bad(
            "Value error, contents size is invalid, it should not be larger than "
            f"{contract.items_per_request}.: input.contents"
        )
    pieces = tuple(_piece(item, contract) for item in contents)
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    dimension = parameters.get("dimension")
    if dimension is not None and dimension not in contract.dimensions:
        offered = ", ".join(map(str, contract.dimensions))
        raise _bad(f"Value error, dimension is invalid, it should be in [{offered}].: dimension")
    fusion = parameters.get("enable_fusion") is True
    if fusion and not contract.fusion:
        raise _bad(f"Value error, enable_fusion is not supported by {model}.: enable_fusion")
    return MultimodalRequest(model, pieces, dimension or contract.dimensions[0], fusion)


def _piece(item: object, contract: MultimodalContract) -> Piece:
    if not isinstance(item, Mapping) or len(item) != 1:
        raise _bad("Value error, each content must hold one of text, image, video.: contents")
    ((kind, value),) = item.items()
    if kind not in ("text", "image", "video") or not isinstance(value, str):
        raise _bad(f"Value error, content {kind!r} is not a text, image or video string.")
    if kind == "text":
        if not value or count_tokens(value) > contract.tokens_per_text:
            raise _bad(f"Range of input length should be [1, {contract.tokens_per_text}]")
        return Piece("text", value)
    if kind == "image" and value.startswith("data:"):
        return _image_data(value, contract)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _URL_ERROR
    if parts.hostname.endswith(".invalid"):
        raise _bad("Failed to download multimodal content")
    return Piece(kind, value)


def _decoded(uri: str) -> bytes | None:
    header, _, payload = uri.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _image_data(uri: str, contract: MultimodalContract) -> Piece:
    data = _decoded(uri)
    if data is None:
        raise _URL_ERROR
    if len(data) > contract.image_bytes:
        raise _bad(
            f"The image size {len(data)} bytes exceeds the limit of "
            f"{contract.image_bytes // _MB} MB.: input.contents.image"
        )
    kind = _format(data[:16])
    if kind not in contract.image_formats:
        raise _bad(f"The image format {kind or 'unknown'} is not supported.: input.contents.image")
    return Piece("image", data, kind)


def _format(head: bytes) -> str | None:
    for name, magic in (
        ("png", b"\x89PNG\r\n\x1a\n"),
        ("jpeg", b"\xff\xd8\xff"),
        ("bmp", b"BM"),
        ("tiff", b"II*\x00"),
        ("tiff", b"MM\x00*"),
        ("ico", b"\x00\x00\x01\x00"),
        ("gif", b"GIF8"),
    ):
        if head.startswith(magic):
            return name
    return "webp" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None


# --- vectors, tokens and the answer ------------------------------------------------------------


def _widen(vector: npt.NDArray[np.float32], width: int) -> npt.NDArray[np.float64]:
    if width <= vector.shape[0]:
        return vector.astype(np.float64)
    return np.resize(vector.astype(np.float64), width)


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)


def text_vector(text: str, width: int) -> npt.NDArray[np.float32]:
    """A text's vector: the text endpoints' (document) vector, repeated above 2048 wide."""
    return _unit(_widen(embed_text(text, min(width, FULL_WIDTH)), width))


def _hash_vector(data: bytes, width: int) -> npt.NDArray[np.float64]:
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return _widen(embed_text(f"h{digest}", min(width, FULL_WIDTH)), width)


def image_vector(data: bytes, width: int) -> npt.NDArray[np.float32]:
    """An image's vector: near its PNG caption's text vector, else from its bytes' hash."""
    caption = png_caption(data)
    noise = _hash_vector(data, width)
    if caption is None:
        return _unit(noise)
    return _unit(_widen(text_vector(caption, width), width) + _CAPTION_WEIGHT * noise)


def _vector(piece: Piece, width: int) -> npt.NDArray[np.float32]:
    if piece.kind == "text" and isinstance(piece.value, str):
        return text_vector(piece.value, width)
    if isinstance(piece.value, bytes):
        return image_vector(piece.value, width)
    return _unit(_hash_vector(piece.value.encode("utf-8"), width))


def _tokens(piece: Piece) -> tuple[int, int]:
    """(text tokens, image or video tokens) of one item: a PNG counts a token per 28x28
    pixels (at least 4), any other image or URL a flat count (**uncertain** figures)."""
    if piece.kind == "text" and isinstance(piece.value, str):
        return count_tokens(piece.value) + 1, 0
    if piece.kind == "video":
        return 0, _VIDEO_TOKENS
    size = png_size(piece.value) if isinstance(piece.value, bytes) else None
    if size is None:
        return 0, _URL_IMAGE_TOKENS
    return 0, max(4, -(-size[0] * size[1] // 784))


def moderated(request: MultimodalRequest, marker: str | None) -> bool:
    """Whether a text, URL or image caption of the request holds the moderation marker."""
    if not marker:
        return False
    for piece in request.pieces:
        text = png_caption(piece.value) if isinstance(piece.value, bytes) else piece.value
        if text is not None and marker in text:
            return True
    return False


def answer(
    request: MultimodalRequest, request_id: str, shape: str = "embeddings"
) -> tuple[dict[str, Any], int, int]:
    """(body, vectors, billed tokens) of the 200 answer, in one of ``ANSWER_SHAPES``."""
    if shape not in ANSWER_SHAPES:
        raise ValueError(f"multimodal_answer must be one of {ANSWER_SHAPES}, not {shape!r}")
    width = request.width
    vectors = [_vector(piece, width) for piece in request.pieces]
    if request.fusion:
        fused = _unit(np.sum([v.astype(np.float64) for v in vectors], axis=0))
        items = [{"index": 0, "embedding": fused, "type": "fusion"}]
    else:
        items = [
            {"index": i, "embedding": vector, "type": piece.kind}
            for i, (piece, vector) in enumerate(zip(request.pieces, vectors, strict=True))
        ]
    counts = [_tokens(piece) for piece in request.pieces]
    text_tokens = sum(text for text, _ in counts)
    image_tokens = sum(image for _, image in counts)
    total = text_tokens + image_tokens
    usage = {
        "input_tokens": total,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "image_count": sum(piece.kind == "image" for piece in request.pieces),
        "output_tokens": 0,
        "total_tokens": total,
    }
    output: dict[str, Any] = {"embeddings": items}
    if shape == "embedding" and len(items) == 1:
        output = {"embedding": items[0]["embedding"]}
    body = {"output": output, "usage": usage, "request_id": request_id}
    return body, len(items), total
