"""Reading vectors out of an answer, for every embedding family (text, multimodal): each
row's vector placed at its index (never by position), every row exactly once, finite and of
the width asked for, or a ``ResponseValidationError``; sparse rows; the options a call asks
for; and ``Protocol``, one wire format's path, body and parser (each family has its own)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ResponseValidationError

__all__ = [
    "EmbedOptions",
    "ParsedResponse",
    "Protocol",
    "SparseEmbedding",
    "place_vectors",
    "prompt_tokens_of",
    "row_count",
    "str_or_none",
    "unusable",
]


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


def row_count(out: npt.NDArray[np.float32] | None, rows: int | None) -> int:
    if out is not None:
        return int(out.shape[0])
    if rows is None:
        raise ValueError("either out or rows is needed")
    return rows


def place_vectors(
    items: list[Any],
    index_key: str,
    dense_key: str | None,
    sparse: list[SparseEmbedding | None] | None,
    out: npt.NDArray[np.float32] | None,
    rows: int,
) -> None:
    if len(items) != rows:
        raise unusable(f"{len(items)} vectors for {rows} rows")
    seen = np.zeros(rows, dtype=bool)
    for item in items:
        if not isinstance(item, Mapping):
            raise unusable("an embedding item is not an object")
        index = item.get(index_key)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < rows:
            raise unusable(f"{index_key} {index!r} is not a row of this request (0..{rows - 1})")
        if seen[index]:
            raise unusable(f"{index_key} {index} came back twice")
        seen[index] = True
        if dense_key is not None and out is not None:
            out[index] = _vector(item.get(dense_key), out.shape[1], index)
        if sparse is not None:
            sparse[index] = _sparse(item.get("sparse_embedding"), index)
    if out is not None and dense_key is not None and not np.isfinite(out).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(out))[:, 0]})
        raise unusable(f"non-finite values in the vectors of rows {bad}")


def _vector(embedding: object, width: int, index: int) -> npt.NDArray[Any]:
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except (binascii.Error, ValueError):
            raise unusable(f"row {index}: the embedding is a string but not base64") from None
        if len(raw) != 4 * width:
            raise unusable(f"row {index}: {len(raw) // 4} values, expected {width}")
        return np.frombuffer(raw, dtype="<f4")
    if not isinstance(embedding, list):
        raise unusable(f"row {index}: the embedding is {type(embedding).__name__}, not a list")
    if len(embedding) != width:
        raise unusable(f"row {index}: {len(embedding)} values, expected {width}")
    try:
        values = np.asarray(embedding)
    except (ValueError, TypeError):  # ragged nesting
        raise unusable(f"row {index}: the embedding is not a flat list of numbers") from None
    if values.ndim != 1:
        raise unusable(f"row {index}: the embedding is nested, not a flat list of numbers")
    if values.dtype.kind not in "fi":
        raise unusable(f"row {index}: the embedding holds values that are not numbers")
    return values


def _sparse(entries: object, index: int) -> SparseEmbedding:
    if not isinstance(entries, list):
        raise unusable(f"row {index}: no sparse_embedding list")
    indices: list[int] = []
    values: list[float] = []
    tokens: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise unusable(f"row {index}: a sparse entry is not an object")
        position, value, token = entry.get("index"), entry.get("value"), entry.get("token")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise unusable(f"row {index}: sparse index {position!r} is not a vocabulary id")
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise unusable(f"row {index}: sparse value {value!r} is not a finite number")
        indices.append(position)
        values.append(float(value))
        if isinstance(token, str):
            tokens.append(token)
    return SparseEmbedding(
        indices=tuple(indices),
        values=tuple(values),
        tokens=tuple(tokens) if len(tokens) == len(indices) and tokens else None,
    )


def prompt_tokens_of(usage: object) -> int | None:
    if isinstance(usage, Mapping):
        for key in ("prompt_tokens", "total_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def unusable(what: str) -> ResponseValidationError:
    return ResponseValidationError(f"The service's response is not usable: {what}.")


@dataclass(frozen=True)
class Protocol:
    """One wire format: where requests go (below the host), their body, their parser."""

    name: str
    path: str
    body: Callable[[str, Sequence[str], int | None, EmbedOptions | None], dict[str, Any]]
    parse: Callable[
        [object, npt.NDArray[np.float32] | None, EmbedOptions | None, int | None], ParsedResponse
    ]
