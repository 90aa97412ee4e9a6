"""Request bodies and response parsing for both protocols (pure).

``compatible`` is the OpenAI-compatible endpoint; ``native`` is DashScope's own, the only one
that documents ``text_type``, ``instruct`` and sparse output. Responses are parsed straight into
the caller's float32 rows: vectors are placed by their index, never by position, and every row
must come back exactly once, finite and of the expected width, or it is a
ResponseValidationError.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from .errors import ConfigurationError, ResponseValidationError
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
    "decode_json",
    "native_body",
    "parse_compatible",
    "parse_native",
    "validate_options",
]

TEXT_TYPES = ("document", "query")
OUTPUT_TYPES = ("dense", "sparse", "dense&sparse")


@dataclass(frozen=True)
class EmbedOptions:
    """What a call asks of the model besides the texts; None means "do not send"."""

    text_type: str | None = None
    instruct: str | None = None
    output_type: str = "dense"

    @property
    def dense(self) -> bool:
        return self.output_type in ("dense", "dense&sparse")

    @property
    def sparse(self) -> bool:
        return self.output_type in ("sparse", "dense&sparse")


@dataclass(frozen=True)
class SparseEmbedding:
    """One row's sparse vector: ``values[k]`` is the weight of vocabulary entry ``indices[k]``."""

    indices: tuple[int, ...]
    values: tuple[float, ...]
    tokens: tuple[str, ...] | None = None
    """The surface form of each entry, when the service gives it."""

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.indices, self.values, strict=True))


@dataclass(frozen=True)
class ParsedResponse:
    """What one successful response told us besides the dense vectors it wrote."""

    prompt_tokens: int | None
    request_id: str | None
    sparse: list[SparseEmbedding] | None = None
    """One per row, in row order, when sparse output was asked for."""
    counts: tuple[tuple[str, int], ...] = ()
    """Further ``Usage`` counters the answer reports, by name (a multimodal answer's image
    tokens)."""


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


def decode_json(content: bytes) -> object:
    """Parse a response body, turning any JSON error into a ResponseValidationError."""
    try:
        return orjson.loads(content)
    except ValueError as exc:
        snippet = content[:80].decode("utf-8", "replace")
        raise ResponseValidationError(
            f"The service answered 200 with a body that is not JSON ({exc}): {snippet!r}"
        ) from None


def parse_compatible(
    payload: object,
    out: npt.NDArray[np.float32] | None,
    options: EmbedOptions | None = None,
    rows: int | None = None,
) -> ParsedResponse:
    """Write each ``data[*].embedding`` into ``out[index]``; ``out`` has one row per request row."""
    if not isinstance(payload, Mapping):
        raise _invalid(f"expected a JSON object, got {type(payload).__name__}")
    items = payload.get("data")
    if not isinstance(items, list):
        raise _invalid("the response has no 'data' list")
    _place(items, "index", "embedding", None, out, _row_count(out, rows))
    return ParsedResponse(
        prompt_tokens=_prompt_tokens(payload.get("usage")),
        request_id=_str_or_none(payload.get("request_id") or payload.get("id")),
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
        raise _invalid(f"expected a JSON object, got {type(payload).__name__}")
    output = payload.get("output")
    items = output.get("embeddings") if isinstance(output, Mapping) else None
    if not isinstance(items, list):
        raise _invalid("the response has no 'output.embeddings' list")
    count = _row_count(out, rows)
    sparse: list[SparseEmbedding | None] | None = [None] * count if options.sparse else None
    _place(items, "text_index", "embedding" if options.dense else None, sparse, out, count)
    return ParsedResponse(
        prompt_tokens=_prompt_tokens(payload.get("usage")),
        request_id=_str_or_none(payload.get("request_id")),
        sparse=None if sparse is None else [s for s in sparse if s is not None],
    )


def _row_count(out: npt.NDArray[np.float32] | None, rows: int | None) -> int:
    if out is not None:
        return int(out.shape[0])
    if rows is None:
        raise ValueError("either out or rows is needed")
    return rows


def _place(
    items: list[Any],
    index_key: str,
    dense_key: str | None,
    sparse: list[SparseEmbedding | None] | None,
    out: npt.NDArray[np.float32] | None,
    rows: int,
) -> None:
    if len(items) != rows:
        raise _invalid(f"{len(items)} vectors for {rows} rows")
    seen = np.zeros(rows, dtype=bool)
    for item in items:
        if not isinstance(item, Mapping):
            raise _invalid("an embedding item is not an object")
        index = item.get(index_key)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < rows:
            raise _invalid(f"{index_key} {index!r} is not a row of this request (0..{rows - 1})")
        if seen[index]:
            raise _invalid(f"{index_key} {index} came back twice")
        seen[index] = True
        if dense_key is not None and out is not None:
            out[index] = _vector(item.get(dense_key), out.shape[1], index)
        if sparse is not None:
            sparse[index] = _sparse(item.get("sparse_embedding"), index)
    if out is not None and dense_key is not None and not np.isfinite(out).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(out))[:, 0]})
        raise _invalid(f"non-finite values in the vectors of rows {bad}")


def _vector(embedding: object, width: int, index: int) -> npt.NDArray[Any]:
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"row {index}: the embedding is a string but not base64") from None
        if len(raw) != 4 * width:
            raise _invalid(f"row {index}: {len(raw) // 4} values, expected {width}")
        return np.frombuffer(raw, dtype="<f4")
    if not isinstance(embedding, list):
        raise _invalid(f"row {index}: the embedding is {type(embedding).__name__}, not a list")
    if len(embedding) != width:
        raise _invalid(f"row {index}: {len(embedding)} values, expected {width}")
    try:
        values = np.asarray(embedding)
    except (ValueError, TypeError):  # ragged nesting
        raise _invalid(f"row {index}: the embedding is not a flat list of numbers") from None
    if values.ndim != 1:
        raise _invalid(f"row {index}: the embedding is nested, not a flat list of numbers")
    if values.dtype.kind not in "fi":
        raise _invalid(f"row {index}: the embedding holds values that are not numbers")
    return values


def _sparse(entries: object, index: int) -> SparseEmbedding:
    if not isinstance(entries, list):
        raise _invalid(f"row {index}: no sparse_embedding list")
    indices: list[int] = []
    values: list[float] = []
    tokens: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise _invalid(f"row {index}: a sparse entry is not an object")
        position, value, token = entry.get("index"), entry.get("value"), entry.get("token")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise _invalid(f"row {index}: sparse index {position!r} is not a vocabulary id")
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise _invalid(f"row {index}: sparse value {value!r} is not a finite number")
        indices.append(position)
        values.append(float(value))
        if isinstance(token, str):
            tokens.append(token)
    return SparseEmbedding(
        indices=tuple(indices),
        values=tuple(values),
        tokens=tuple(tokens) if len(tokens) == len(indices) and tokens else None,
    )


def _prompt_tokens(usage: object) -> int | None:
    if isinstance(usage, Mapping):
        for key in ("prompt_tokens", "total_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _invalid(what: str) -> ResponseValidationError:
    return ResponseValidationError(f"The service's response is not usable: {what}.")


# --- the two protocols -------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """One wire format: where requests go (below the host), their body, their parser."""

    name: str
    path: str
    body: Callable[[str, Sequence[str], int | None, EmbedOptions | None], dict[str, Any]]
    parse: Callable[
        [object, npt.NDArray[np.float32] | None, EmbedOptions | None, int | None], ParsedResponse
    ]


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
