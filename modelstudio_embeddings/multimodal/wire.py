"""Multimodal request bodies and answers (pure): the native DashScope endpoint only.

Vectors are placed by each embedding's ``index`` (its position in ``contents``) and must come
back exactly once, finite and of the expected width, as for text (``wire._place``). An older
answer's single ``output.embedding`` is read as the one vector of a one-item request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.vectors import EmbedOptions, ParsedResponse, Protocol, place_vectors, unusable

__all__ = ["MULTIMODAL_PATH", "MULTIMODAL_PROTOCOL", "multimodal_body", "parse_multimodal"]

MULTIMODAL_PATH = "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"


def multimodal_body(
    model: str,
    contents: Sequence[Mapping[str, str]],
    dimension: int | None,
    *,
    fusion: bool = False,
) -> dict[str, Any]:
    """The request for ``contents`` (``{"text"|"image"|"video": ...}`` objects): ``dimension``
    where the model offers several widths, ``enable_fusion`` only when fusing."""
    parameters: dict[str, Any] = {}
    if dimension is not None:
        parameters["dimension"] = dimension
    if fusion:
        parameters["enable_fusion"] = True
    return {"model": model, "input": {"contents": list(contents)}, "parameters": parameters}


def parse_multimodal(
    payload: object,
    out: npt.NDArray[np.float32] | None,
    options: EmbedOptions | None = None,
    rows: int | None = None,
) -> ParsedResponse:
    """Write each ``output.embeddings[*].embedding`` into ``out[index]`` and read the usage:
    billed tokens, and the image tokens where the answer tells them (images are counted by
    the call, which knows what it sent)."""
    if not isinstance(payload, Mapping):
        raise unusable(f"expected a JSON object, got {type(payload).__name__}")
    if out is None:
        raise ValueError("a multimodal answer is read into dense rows")
    output = payload.get("output")
    output = output if isinstance(output, Mapping) else {}
    items = output.get("embeddings")
    if items is None and isinstance(output.get("embedding"), list):
        items = [{"index": 0, "embedding": output["embedding"]}]
    if not isinstance(items, list):
        raise unusable("the response has no 'output.embeddings' list")
    place_vectors(items, "index", "embedding", None, out, int(out.shape[0]))
    total, counts = _usage(payload.get("usage"))
    request_id = payload.get("request_id")
    return ParsedResponse(
        prompt_tokens=total,
        request_id=request_id if isinstance(request_id, str) else None,
        counts=counts,
    )


def _usage(usage: object) -> tuple[int | None, tuple[tuple[str, int], ...]]:
    """(billed tokens, further counters) from whichever usage fields the answer has."""
    if not isinstance(usage, Mapping):
        return None, ()
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    total = _int(usage.get("total_tokens")) or _int(usage.get("input_tokens"))
    image_tokens = _int(details.get("image_tokens")) or _int(usage.get("image_tokens"))
    return total, (() if image_tokens is None else (("image_tokens", image_tokens),))


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_body(
    model: str, texts: Sequence[str], dimension: int | None, options: EmbedOptions | None = None
) -> dict[str, Any]:
    return multimodal_body(model, [{"text": text} for text in texts], dimension)


MULTIMODAL_PROTOCOL = Protocol("multimodal", MULTIMODAL_PATH, _text_body, parse_multimodal)
"""The endpoint as one of the embedding call's protocols (texts alone make a valid body)."""
