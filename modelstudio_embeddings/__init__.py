"""Alibaba Cloud Model Studio text embeddings, done right: one core caller for every framework."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _moved

if TYPE_CHECKING:
    from .core.budgets import (
        FileBudget,
        LocalBudget,
        RayBudget,
    )
    from .core.config import (
        REGIONS,
        Region,
    )
    from .core.errors import (
        APIConnectionError,
        APITimeoutError,
        AuthenticationError,
        BillingError,
        BurstRateLimitError,
        ConfigurationError,
        ContentFetchError,
        ContentInspectionError,
        EndpointNotFoundError,
        HostNotFoundError,
        InputTooLongError,
        InvalidInputError,
        InvalidRequestError,
        ModelNotFoundError,
        ModelStudioError,
        PartialEmbeddings,
        PermissionDeniedError,
        RateLimitError,
        RequestRateLimitError,
        ResponseValidationError,
        RowLimitError,
        ServiceUnavailableError,
        TokenRateLimitError,
    )
    from .core.planning import (
        estimate_tokens,
    )
    from .core.ratelimit import (
        RateLimit,
    )
    from .core.retry import (
        RetryPolicy,
    )
    from .core.usage import (
        Usage,
    )
    from .embeddings.client import (
        EmbeddingClient,
    )
    from .embeddings.models import (
        DEFAULT_MODEL,
        MODELS,
        ModelSpec,
    )
    from .embeddings.wire import (
        SparseEmbedding,
    )
    from .multimodal import (
        MULTIMODAL_MODELS,
        MultimodalEmbeddingClient,
        MultimodalSpec,
    )
    from .rerank.client import (
        RerankClient,
    )
    from .rerank.models import (
        RERANK_MODELS,
        RerankSpec,
    )

__version__ = "0.1.0"

_moved.install()  # the flat layout's module paths (``modelstudio_embeddings.client``, ...)

# Imported on first use, so that importing the package (the pytest plugin, the emulator, the
# CLI) does not load the SDK and numpy until a name that needs them is used.
_LAZY: dict[str, str] = {
    "EmbeddingClient": ".embeddings.client",
    "REGIONS": ".core.config",
    "Region": ".core.config",
    "APIConnectionError": ".core.errors",
    "APITimeoutError": ".core.errors",
    "AuthenticationError": ".core.errors",
    "BillingError": ".core.errors",
    "BurstRateLimitError": ".core.errors",
    "ConfigurationError": ".core.errors",
    "ContentFetchError": ".core.errors",
    "ContentInspectionError": ".core.errors",
    "EndpointNotFoundError": ".core.errors",
    "HostNotFoundError": ".core.errors",
    "InputTooLongError": ".core.errors",
    "InvalidInputError": ".core.errors",
    "InvalidRequestError": ".core.errors",
    "ModelNotFoundError": ".core.errors",
    "ModelStudioError": ".core.errors",
    "PartialEmbeddings": ".core.errors",
    "PermissionDeniedError": ".core.errors",
    "RateLimitError": ".core.errors",
    "RequestRateLimitError": ".core.errors",
    "ResponseValidationError": ".core.errors",
    "RowLimitError": ".core.errors",
    "ServiceUnavailableError": ".core.errors",
    "TokenRateLimitError": ".core.errors",
    "DEFAULT_MODEL": ".embeddings.models",
    "MODELS": ".embeddings.models",
    "ModelSpec": ".embeddings.models",
    "MULTIMODAL_MODELS": ".multimodal",
    "MultimodalEmbeddingClient": ".multimodal",
    "MultimodalSpec": ".multimodal",
    "estimate_tokens": ".core.planning",
    "RerankClient": ".rerank.client",
    "RERANK_MODELS": ".rerank.models",
    "RerankSpec": ".rerank.models",
    "RetryPolicy": ".core.retry",
    "Usage": ".core.usage",
    "RateLimit": ".core.ratelimit",
    "LocalBudget": ".core.budgets",
    "FileBudget": ".core.budgets",
    "RayBudget": ".core.budgets",
    "SparseEmbedding": ".embeddings.wire",
}

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "MULTIMODAL_MODELS",
    "REGIONS",
    "RERANK_MODELS",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BillingError",
    "BurstRateLimitError",
    "ConfigurationError",
    "ContentFetchError",
    "ContentInspectionError",
    "EmbeddingClient",
    "EndpointNotFoundError",
    "FileBudget",
    "HostNotFoundError",
    "InputTooLongError",
    "InvalidInputError",
    "InvalidRequestError",
    "LocalBudget",
    "ModelNotFoundError",
    "ModelSpec",
    "ModelStudioError",
    "MultimodalEmbeddingClient",
    "MultimodalSpec",
    "PartialEmbeddings",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RayBudget",
    "Region",
    "RequestRateLimitError",
    "RerankClient",
    "RerankSpec",
    "ResponseValidationError",
    "RetryPolicy",
    "RowLimitError",
    "ServiceUnavailableError",
    "SparseEmbedding",
    "TokenRateLimitError",
    "Usage",
    "__version__",
    "estimate_tokens",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
