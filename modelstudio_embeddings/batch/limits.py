"""The Batch API's per-file limits and names, as the client plans with them.

Figures follow ``shared/design/service-contract.md`` (Batch API): at most 50,000 request lines
and 500 MB a file, 6 MB a line, one model a file. They are a value so tests (and a service
that changes them) can plan with others.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BATCH_ENDPOINT", "BATCH_TEST_MODEL", "DEFAULT_FILE_LIMITS", "FileLimits"]

BATCH_ENDPOINT = "/v1/embeddings"
BATCH_TEST_MODEL = "batch-test-model"
"""Validates a file without inference or billing (at most 100 lines and 1 MB)."""
TEST_MAX_LINES = 100
TEST_MAX_BYTES = 2**20


@dataclass(frozen=True)
class FileLimits:
    """How big one request file may be (MB taken as 2**20 bytes)."""

    max_requests: int = 50_000
    max_bytes: int = 500 * 2**20
    max_line_bytes: int = 6 * 2**20

    def __post_init__(self) -> None:
        if min(self.max_requests, self.max_bytes, self.max_line_bytes) < 1:
            raise ValueError("file limits must be positive")


DEFAULT_FILE_LIMITS = FileLimits()
