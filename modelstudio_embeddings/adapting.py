"""What both framework adapters share, so neither writes it again: the core client's settings
as one list, one way to build the client from an adapter's fields, the translation of a
framework's validation error into a ``ConfigurationError`` that never shows the inputs (the
key is one of them), and positions of a sub-list mapped back to the caller's list.

The adapters import only this module and the package's public names: what they need of the
families' insides (defaults, model resolution, the progress bar) is re-exported here, so the
rooms below can change without touching an adapter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .core.errors import ConfigurationError, ModelStudioError, PartialEmbeddings
from .core.progress import progress_bar
from .core.settings import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from .embeddings.client import EmbeddingClient
from .embeddings.models import resolve_dimensions, resolve_model
from .embeddings.settings import ClientSettings
from .multimodal.client import MultimodalEmbeddingClient
from .multimodal.settings import MultimodalSettings
from .rerank.client import RerankClient
from .rerank.models import DEFAULT_RERANK_MODEL
from .rerank.planning import validate_top_n
from .rerank.settings import RerankSettings

__all__ = [
    "CLIENT_SETTINGS",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RERANK_MODEL",
    "DEFAULT_TIMEOUT",
    "MULTIMODAL_SETTINGS",
    "RERANK_SETTINGS",
    "build_client",
    "build_multimodal",
    "build_reranker",
    "configured",
    "errors_at",
    "progress_bar",
    "resolve_dimensions",
    "resolve_model",
    "validate_top_n",
]

CLIENT_SETTINGS: tuple[str, ...] = tuple(
    field.name for field in dataclasses.fields(ClientSettings) if field.name != "model"
)
"""Every setting of the core client but the model (each adapter names it its own way) and
the key: each adapter offers them all (a test walks this list)."""


def build_client(model: str, api_key: str | None, fields: Mapping[str, Any]) -> EmbeddingClient:
    """The core client from an adapter's fields (those named in ``CLIENT_SETTINGS``)."""
    settings = ClientSettings(model=model, **{name: fields[name] for name in CLIENT_SETTINGS})
    return EmbeddingClient.from_settings(settings, api_key)


RERANK_SETTINGS: tuple[str, ...] = tuple(
    field.name for field in dataclasses.fields(RerankSettings) if field.name != "model"
)
"""Every setting of the core rerank client but the model and the key: both rerank adapters
offer them all."""


def build_reranker(model: str, api_key: str | None, fields: Mapping[str, Any]) -> RerankClient:
    """The core rerank client from an adapter's fields (those named in ``RERANK_SETTINGS``)."""
    settings = RerankSettings(model=model, **{name: fields[name] for name in RERANK_SETTINGS})
    return RerankClient.from_settings(settings, api_key)


MULTIMODAL_SETTINGS: tuple[str, ...] = tuple(
    field.name
    for field in dataclasses.fields(MultimodalSettings)
    if field.name not in ("model", "on_too_long", "tokenizer")
)
"""Every setting of the core multimodal client but the model and the key (and the two fixed
ones): both multimodal adapters offer them all."""


def build_multimodal(
    model: str, api_key: str | None, fields: Mapping[str, Any]
) -> MultimodalEmbeddingClient:
    """The core multimodal client from an adapter's fields (``MULTIMODAL_SETTINGS``)."""
    settings = MultimodalSettings(
        model=model, **{name: fields[name] for name in MULTIMODAL_SETTINGS}
    )
    return MultimodalEmbeddingClient.from_settings(settings, api_key)


def configured(owner: str, build: Callable[[], object]) -> None:
    """Run an adapter's pydantic construction; turn its ``ValidationError`` into a
    ``ConfigurationError`` naming each field and what is wrong, without the values given (the
    key is one of them). A ``ConfigurationError`` that pydantic wrapped comes out as itself."""
    try:
        build()
        return
    except ConfigurationError:
        raise
    except ValueError as exc:
        errors: Callable[..., list[dict[str, Any]]] | None = getattr(exc, "errors", None)
        if errors is None:
            raise
        items = errors(include_input=False, include_url=False)
    # Raised here, outside the except clause, so the framework's error (which holds every
    # input, the key included) is not even its __context__.
    for item in items:
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigurationError):
            raise ConfigurationError(cause.message)
    parts = [
        f"{'.'.join(map(str, item.get('loc', ()))) or owner}: {item.get('msg', 'invalid')}"
        for item in items
    ]
    raise ConfigurationError(f"{owner}: " + "; ".join(parts))


def errors_at(
    error: ModelStudioError, positions: Sequence[int], done: Mapping[int, Sequence[float]]
) -> ModelStudioError:
    """``error`` of a call over a sub-list, with its indices and partial results as positions
    in the caller's list (``positions[k]`` is where row k of the sub-list came from), and the
    rows ``done`` without that call (a cache's hits, say) added to the partial results."""
    if error.indices is not None:
        error.indices = tuple(positions[i] for i in error.indices)
    partial = error.partial
    if partial is not None or done:
        rows = dict(done)
        sparse: dict[int, Any] = {}
        if partial is not None:
            for k, i in enumerate(partial.indices):
                rows[positions[i]] = partial.vectors[k]
                if partial.sparse is not None:
                    sparse[positions[i]] = partial.sparse[k]
        order = sorted(rows)
        width = partial.vectors.shape[1] if partial is not None else len(next(iter(done.values())))
        vectors = np.asarray([rows[i] for i in order], dtype=np.float32).reshape(-1, width)
        error.partial = PartialEmbeddings(
            indices=tuple(order),
            vectors=vectors,
            sparse=tuple(sparse[i] for i in order) if partial and partial.sparse else None,
        )
    return error
