"""Alibaba Cloud Model Studio text embeddings, done right: one core caller for every framework."""

from .client import EmbeddingClient
from .config import REGIONS, Region
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BillingError,
    BurstRateLimitError,
    ConfigurationError,
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
from .models import DEFAULT_MODEL, MODELS, ModelSpec
from .planning import estimate_tokens
from .retry import RetryPolicy
from .usage import Usage

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "REGIONS",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BillingError",
    "BurstRateLimitError",
    "ConfigurationError",
    "ContentInspectionError",
    "EmbeddingClient",
    "EndpointNotFoundError",
    "HostNotFoundError",
    "InputTooLongError",
    "InvalidInputError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelSpec",
    "ModelStudioError",
    "PartialEmbeddings",
    "PermissionDeniedError",
    "RateLimitError",
    "Region",
    "RequestRateLimitError",
    "ResponseValidationError",
    "RetryPolicy",
    "RowLimitError",
    "ServiceUnavailableError",
    "TokenRateLimitError",
    "Usage",
    "__version__",
    "estimate_tokens",
]
