"""Alibaba Cloud Model Studio text embeddings, done right: one core caller for every framework."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import (
        EmbeddingClient,
    )
    from .config import (
        REGIONS,
        Region,
    )
    from .errors import (
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
    from .governor import (
        FileBudget,
        LocalBudget,
        RayBudget,
    )
    from .models import (
        DEFAULT_MODEL,
        MODELS,
        ModelSpec,
    )
    from .multimodal import (
        MULTIMODAL_MODELS,
        MultimodalEmbeddingClient,
        MultimodalSpec,
    )
    from .planning import (
        estimate_tokens,
    )
    from .ratelimit import (
        RateLimit,
    )
    from .rerank_client import (
        RerankClient,
    )
    from .rerank_models import (
        RERANK_MODELS,
        RerankSpec,
    )
    from .retry import (
        RetryPolicy,
    )
    from .usage import (
        Usage,
    )
    from .wire import (
        SparseEmbedding,
    )

__version__ = "0.1.0"

# Imported on first use, so that importing the package (the pytest plugin, the emulator, the
# CLI) does not load the SDK and numpy until a name that needs them is used.
_LAZY: dict[str, str] = {
    "EmbeddingClient": ".client",
    "REGIONS": ".config",
    "Region": ".config",
    "APIConnectionError": ".errors",
    "APITimeoutError": ".errors",
    "AuthenticationError": ".errors",
    "BillingError": ".errors",
    "BurstRateLimitError": ".errors",
    "ConfigurationError": ".errors",
    "ContentFetchError": ".errors",
    "ContentInspectionError": ".errors",
    "EndpointNotFoundError": ".errors",
    "HostNotFoundError": ".errors",
    "InputTooLongError": ".errors",
    "InvalidInputError": ".errors",
    "InvalidRequestError": ".errors",
    "ModelNotFoundError": ".errors",
    "ModelStudioError": ".errors",
    "PartialEmbeddings": ".errors",
    "PermissionDeniedError": ".errors",
    "RateLimitError": ".errors",
    "RequestRateLimitError": ".errors",
    "ResponseValidationError": ".errors",
    "RowLimitError": ".errors",
    "ServiceUnavailableError": ".errors",
    "TokenRateLimitError": ".errors",
    "DEFAULT_MODEL": ".models",
    "MODELS": ".models",
    "ModelSpec": ".models",
    "MULTIMODAL_MODELS": ".multimodal",
    "MultimodalEmbeddingClient": ".multimodal",
    "MultimodalSpec": ".multimodal",
    "estimate_tokens": ".planning",
    "RerankClient": ".rerank_client",
    "RERANK_MODELS": ".rerank_models",
    "RerankSpec": ".rerank_models",
    "RetryPolicy": ".retry",
    "Usage": ".usage",
    "RateLimit": ".ratelimit",
    "LocalBudget": ".governor",
    "FileBudget": ".governor",
    "RayBudget": ".governor",
    "SparseEmbedding": ".wire",
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
