"""The embeddings endpoints' room: one request body answered as the service would (rows,
dimensions, encodings, moderation, limits), shared by the real-time endpoints and the Batch
API, which answers each of its lines with it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from .contract import EMBEDDING_MODELS as MODELS
from .faults import Fault
from .replies import Reply, bad_param, envelope, fault_reply, length_body, row_limit_body
from .tokens import count_tokens, usage_tokens
from .vectors import embed_texts, sparse_terms

__all__ = ["CONTENT_FAULTS", "TAMPERING_FAULTS", "EmbeddingSettings", "serve_body", "texts_of"]


class EmbeddingSettings(Protocol):
    """What the embeddings room reads of the emulator's settings."""

    too_long_marker: str | None
    base64_policy: str
    moderation_marker: str | None
    compatible_extensions: str

    def _row_limit(self, model: str) -> int: ...


TAMPERING_FAULTS = frozenset(
    {
        "shuffle",
        "missing_vector",
        "wrong_width",
        "duplicate_index",
        "nan",
        "malformed_json",
        "nested_vectors",
        "error_in_200",
        "no_content",
        "trickle",
    }
)
CONTENT_FAULTS = TAMPERING_FAULTS | {"slow"}


def serve_body(
    emulator: EmbeddingSettings,
    body: dict[str, Any],
    native: bool,
    fault: Fault | None,
    admit: Callable[[str, int], None] | None = None,
) -> tuple[dict[str, Any], int, int]:
    """The 200 answer to one embeddings request body (rows, tokens too), or raise ``Reply``
    with the service's error: shared by the real-time endpoints and the Batch API."""
    if fault is not None and fault.kind not in CONTENT_FAULTS:
        raise fault_reply(fault)
    model = body.get("model")
    if not isinstance(model, str) or model not in MODELS:
        raise Reply(404, envelope("model_not_found"))
    spec = MODELS[model]
    texts = texts_of(body, native)
    if texts is None:
        raise Reply(
            400,
            bad_param("contents is neither str nor list of str.: payload.input.contents"),
        )
    limit = emulator._row_limit(model)
    if len(texts) > limit:
        raise Reply(400, row_limit_body(limit))
    too_long = emulator.too_long_marker
    for text in texts:
        if not text or count_tokens(text) > spec.tokens_per_row or (too_long and too_long in text):
            raise Reply(400, length_body(spec.tokens_per_row))
    parameters = body.get("parameters") if native else body
    if not isinstance(parameters, dict):
        parameters = {}
    dims_key = "dimension" if native else "dimensions"
    dimensions = parameters.get(dims_key)
    width = spec.default_dimensions
    if spec.accepts_dimensions and dimensions is not None:
        if dimensions not in spec.dimensions:
            raise Reply(
                400,
                bad_param(
                    "Value error, dimension for embedding v3 is invalid, its value shold be "
                    "in [64, 128, 256, 512, 768, 1024, 1536, 2048, 3072]"
                ),
            )
        width = dimensions
    encoding = None if native else body.get("encoding_format")
    if encoding == "base64" and emulator.base64_policy == "reject":
        raise Reply(
            400,
            bad_param("Value error, encoding_format only supports float.: encoding_format"),
        )
    marker = emulator.moderation_marker
    if marker and any(marker in t for t in texts):
        raise Reply(400, envelope("moderated"))
    tokens = usage_tokens(texts)
    if admit is not None:
        admit(model, tokens)
    honour_extras = native or emulator.compatible_extensions == "honour"
    text_type = parameters.get("text_type", "document") if honour_extras else "document"
    instruct = parameters.get("instruct") if honour_extras else None
    output_type = parameters.get("output_type", "dense") if native else "dense"
    # float32 rows, written as JSON numbers by orjson when the answer is sent.
    vectors = embed_texts(texts, width, model=model, text_type=str(text_type), instruct=instruct)
    request_id = str(uuid.uuid4())
    if native:
        items: list[dict[str, Any]] = []
        for i, text in enumerate(texts):
            item: dict[str, Any] = {"text_index": i}
            if output_type in ("dense", "dense&sparse"):
                item["embedding"] = vectors[i]
            if output_type in ("sparse", "dense&sparse"):
                item["sparse_embedding"] = sparse_terms(text)
            items.append(item)
        payload = {
            "output": {"embeddings": items},
            "usage": {"total_tokens": tokens},
            "request_id": request_id,
        }
        return payload, len(texts), tokens
    honour_b64 = encoding == "base64" and emulator.base64_policy == "honour"
    data = [
        {
            "embedding": (
                base64.b64encode(vectors[i].astype("<f4").tobytes()).decode()
                if honour_b64
                else vectors[i]
            ),
            "index": i,
            "object": "embedding",
        }
        for i in range(len(texts))
    ]
    payload = {
        "data": data,
        "model": model,
        "object": "list",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "id": request_id,
    }
    return payload, len(texts), tokens


def texts_of(body: dict[str, Any] | None, native: bool) -> list[str] | None:
    if body is None:
        return None
    value = body.get("input")
    if native:
        value = value.get("texts") if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return value
    return None
