"""The service as the emulator enforces it, written from ``shared/design/service-contract.md``
and not from the client's model table: a wrong limit in the client is then caught by the
emulator instead of agreeing with it (``tests/emulator/test_contract.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["COMPATIBLE_PATH", "EMBEDDING_MODELS", "NATIVE_PATH", "ModelContract"]

COMPATIBLE_PATH = "/compatible-mode/v1/embeddings"
NATIVE_PATH = "/api/v1/services/embeddings/text-embedding/text-embedding"


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
