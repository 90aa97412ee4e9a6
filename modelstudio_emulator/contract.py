"""The service as the emulator enforces it, written from ``shared/design/service-contract.md``
and not from the client's model table: a wrong limit in the client is then caught by the
emulator instead of agreeing with it (``tests/emulator/test_contract.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "BATCHES_PATH",
    "BATCH_LIMITS",
    "BATCH_TEST_MODEL",
    "COMPATIBLE_PATH",
    "EMBEDDING_MODELS",
    "FILES_PATH",
    "NATIVE_PATH",
    "RERANK_COMPATIBLE_PATH",
    "RERANK_MODELS",
    "RERANK_NATIVE_PATH",
    "BatchLimits",
    "ModelContract",
    "RerankContract",
]

COMPATIBLE_PATH = "/compatible-mode/v1/embeddings"
NATIVE_PATH = "/api/v1/services/embeddings/text-embedding/text-embedding"
RERANK_COMPATIBLE_PATH = "/compatible-api/v1/reranks"
"""Note ``compatible-api``, not the embeddings' ``compatible-mode``."""
RERANK_NATIVE_PATH = "/api/v1/services/rerank/text-rerank/text-rerank"


@dataclass(frozen=True)
class ModelContract:
    """One embedding model's limits, as the service documents them."""

    rows_per_request: int
    tokens_per_row: int
    dimensions: tuple[int, ...]
    """Offered widths, the default first."""
    accepts_dimensions: bool
    """False where the service ignores ``dimensions`` and answers at the default width."""

    @property
    def default_dimensions(self) -> int:
        return self.dimensions[0]


_V3_V4_TAIL = (768, 512, 256, 128, 64)

EMBEDDING_MODELS: Mapping[str, ModelContract] = MappingProxyType(
    {
        "text-embedding-v4": ModelContract(10, 8192, (1024, 2048, 1536, *_V3_V4_TAIL), True),
        "text-embedding-v3": ModelContract(10, 8192, (1024, *_V3_V4_TAIL), True),
        "text-embedding-v2": ModelContract(25, 2048, (1536,), False),
        "text-embedding-v1": ModelContract(25, 2048, (1536,), False),
    }
)


@dataclass(frozen=True)
class RerankContract:
    """One rerank model's limits, as the service documents them (text documents only)."""

    documents_per_request: int
    tokens_per_item: int
    """For the query and for each document; the service truncates a longer item."""
    tokens_per_request: int
    """Query tokens x documents + all documents' tokens must not exceed it."""
    protocols: frozenset[str]
    """The endpoints that serve the model: ``compatible`` and/or ``native``."""
    requests_per_minute: int | None = None
    """Informational (None where unpublished): the emulator's rate limit is global."""


RERANK_MODELS: Mapping[str, RerankContract] = MappingProxyType(
    {
        "qwen3-rerank": RerankContract(
            500, 4000, 120_000, frozenset({"compatible", "native"}), 5400
        ),
        "gte-rerank-v2": RerankContract(500, 4000, 30_000, frozenset({"native"})),
        "qwen3-vl-rerank": RerankContract(100, 8000, 120_000, frozenset({"native"})),
    }
)

# --- the OpenAI-compatible Batch API (Beijing) --------------------------------------------------

FILES_PATH = "/compatible-mode/v1/files"
BATCHES_PATH = "/compatible-mode/v1/batches"
BATCH_ENDPOINT = "/v1/embeddings"
BATCH_TEST_MODEL = "batch-test-model"
"""Validates a small file and answers a fixed success line per request, without inference."""
BATCH_TEST_URL = "/v1/chat/ds-test"
"""The ``url`` the docs' sample file for ``batch-test-model`` uses."""


@dataclass(frozen=True)
class BatchLimits:
    """Per-file and per-job limits of the Batch API (MB taken as 2**20 bytes)."""

    max_lines: int = 50_000
    max_file_bytes: int = 500 * 2**20
    max_line_bytes: int = 6 * 2**20
    test_max_lines: int = 100
    test_max_file_bytes: int = 2**20
    test_max_jobs: int = 2
    """Jobs of ``batch-test-model`` running at once."""
    min_window_hours: int = 24
    max_window_hours: int = 336
    ds_name_chars: int = 100
    ds_description_chars: int = 200


BATCH_LIMITS = BatchLimits()
