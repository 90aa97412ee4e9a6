"""Request bodies and response parsing for both protocols (pure).

``compatible`` is the OpenAI-compatible endpoint; ``native`` is DashScope's own, the only one
that documents ``text_type``, ``instruct`` and sparse output. Responses are parsed straight into
the caller's float32 rows: vectors are placed by their index, never by position, and every row
must come back exactly once, finite and of the expected width, or it is a
ResponseValidationError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigurationError
from ..core.vectors import (
    EmbedOptions,
    ParsedResponse,
    Protocol,
    SparseEmbedding,
    place_vectors,
    prompt_tokens_of,
    row_count,
    str_or_none,
    unusable,
)
from .models import ModelSpec

__all__ = [
    "OUTPUT_TYPES",
    "PROTOCOLS",
    "TEXT_TYPES",
    "EmbedOptions",
    "ParsedResponse",
    "Protocol",
    "SparseEmbedding",
    "compatible_body",
    "native_body",
    "parse_compatible",
    "parse_native",
    "validate_options",
]

TEXT_TYPES = ("document", "query")
OUTPUT_TYPES = ("dense", "sparse", "dense&sparse")


# --- request bodies ------------------------------------------------------------------------


def compatible_body(
    model: str, texts: Sequence[str], dimensions: int | None, options: EmbedOptions | None = None
) -> dict[str, Any]:
    """The compatible-mode body; ``encoding_format`` is always ``float`` (the SDK would send
    ``base64``, which the service does not document)."""
    body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def native_body(
    model: str, texts: Sequence[str], dimensions: int | None, options: EmbedOptions | None = None
) -> dict[str, Any]:
    """The native DashScope body: texts under ``input.texts``, settings under ``parameters``
    (note ``dimension``, singular)."""
    options = options or EmbedOptions()
    parameters: dict[str, Any] = {"output_type": options.output_type}
    if dimensions is not None:
        parameters["dimension"] = dimensions
    if options.text_type is not None:
        parameters["text_type"] = options.text_type
    if options.instruct is not None:
        parameters["instruct"] = options.instruct
    return {"model": model, "input": {"texts": list(texts)}, "parameters": parameters}


def validate_options(spec: ModelSpec, protocol: str, options: EmbedOptions) -> None:
    """A ConfigurationError, before any request, for what this protocol or model does not
    document, saying which does."""
    if options.text_type is not None and options.text_type not in TEXT_TYPES:
        raise ConfigurationError(
            f"text_type must be 'document' or 'query', got {options.text_type!r}."
        )
    if options.output_type not in OUTPUT_TYPES:
        raise ConfigurationError(
            f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {options.output_type!r}."
        )
    asked = [
        (options.text_type is not None, "text_type", spec.text_types, "v3 and v4"),
        (options.instruct is not None, "instruct", spec.instruct, "v4"),
        (options.sparse, "sparse output", spec.sparse, "v3 and v4"),
    ]
    for wanted, what, model_has_it, models in asked:
        if not wanted:
            continue
        if protocol != "native":
            raise ConfigurationError(
                f"{what} is documented for the native protocol only: pass protocol='native' "
                f"(same key and region) to use it with {spec.name}."
            )
        if not model_has_it:
            raise ConfigurationError(
                f"{spec.name} does not document {what}; text-embedding-{models} do."
            )


# --- response parsing ------------------------------------------------------------------------


def parse_compatible(
    payload: object,
    out: npt.NDArray[np.float32] | None,
    options: EmbedOptions | None = None,
    rows: int | None = None,
) -> ParsedResponse:
    """Write each ``data[*].embedding`` into ``out[index]``; ``out`` has one row per request row."""
    if not isinstance(payload, Mapping):
        raise unusable(f"expected a JSON object, got {type(payload).__name__}")
    items = payload.get("data")
    if not isinstance(items, list):
        raise unusable("the response has no 'data' list")
    place_vectors(items, "index", "embedding", None, out, row_count(out, rows))
    return ParsedResponse(
        prompt_tokens=prompt_tokens_of(payload.get("usage")),
        request_id=str_or_none(payload.get("request_id") or payload.get("id")),
    )


def parse_native(
    payload: object,
    out: npt.NDArray[np.float32] | None,
    options: EmbedOptions | None = None,
    rows: int | None = None,
) -> ParsedResponse:
    """Write each ``output.embeddings[*]`` by its ``text_index``; collect sparse rows if asked."""
    options = options or EmbedOptions()
    if not isinstance(payload, Mapping):
        raise unusable(f"expected a JSON object, got {type(payload).__name__}")
    output = payload.get("output")
    items = output.get("embeddings") if isinstance(output, Mapping) else None
    if not isinstance(items, list):
        raise unusable("the response has no 'output.embeddings' list")
    count = row_count(out, rows)
    sparse: list[SparseEmbedding | None] | None = [None] * count if options.sparse else None
    place_vectors(items, "text_index", "embedding" if options.dense else None, sparse, out, count)
    return ParsedResponse(
        prompt_tokens=prompt_tokens_of(payload.get("usage")),
        request_id=str_or_none(payload.get("request_id")),
        sparse=None if sparse is None else [s for s in sparse if s is not None],
    )


# --- the two protocols -------------------------------------------------------------------------


PROTOCOLS: Mapping[str, Protocol] = {
    "compatible": Protocol(
        "compatible", "/compatible-mode/v1/embeddings", compatible_body, parse_compatible
    ),
    "native": Protocol(
        "native",
        "/api/v1/services/embeddings/text-embedding/text-embedding",
        native_body,
        parse_native,
    ),
}
