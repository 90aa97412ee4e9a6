"""The retry and back-off policy as data (pure): which failures are transient, and how long to wait.

Only 429, 5xx, timeouts and connection errors are retried; every other failure is final.
The executors carry out the decision with ``time.sleep`` or ``asyncio.sleep``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import (
    APIConnectionError,
    HostNotFoundError,
    ModelStudioError,
    RateLimitError,
    ServiceUnavailableError,
)

__all__ = ["RetryPolicy", "is_transient"]

TRANSIENT = (RateLimitError, ServiceUnavailableError, APIConnectionError)


def is_transient(error: ModelStudioError) -> bool:
    """True for failures that may pass by themselves: 429, 5xx, timeouts, connection errors
    (but not a host name that does not resolve, a refused port or a failed TLS handshake:
    those are configuration mistakes a retry cannot mend)."""
    if isinstance(error, APIConnectionError) and not error.heals:
        return False
    return isinstance(error, TRANSIENT) and not isinstance(error, HostNotFoundError)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, honouring the service's ``Retry-After``."""

    max_retries: int = 6
    """Re-sends of one request after its first attempt."""
    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_retry_after: float = 120.0
    """The longest ``Retry-After`` honoured; a longer one gives up at once."""

    def delay(
        self, retries_so_far: int, error: ModelStudioError, rng: random.Random
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not is_transient(error) or retries_so_far >= self.max_retries:
            return None
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier**retries_so_far)
        # "Equal jitter": at least half the ceiling, so a storm backs off, never in lockstep.
        backoff = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return error.retry_after + rng.uniform(0, min(1.0, ceiling / 4))
        return backoff

    def why_final(self, error: ModelStudioError, retries_so_far: int) -> str | None:
        """What to add to a transient error's message when it is given up on, or None."""
        if not is_transient(error):
            return None
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return (
                f"The service asked to wait {error.retry_after:g} s (Retry-After), longer than "
                f"max_retry_after={self.max_retry_after:g} s, so it was not retried."
            )
        if retries_so_far:
            return f"Gave up after {retries_so_far} retries."
        return None
