"""What every call's state machine shares (sans-I/O): the steps it yields to an executor
(``Send`` a request, ``Sleep``), what comes back (a 2xx ``Reply`` or a library error), and
``JobState``: stop flag, deadline, first fatal error, row isolation and the retry decision.

The executors (``executor.py``) only carry out the steps and send back what came of them, so
retries, isolation and deadlines are written once, here; each family's call (an embedding
``Call``, a ``RerankCall``) adds its batching and reading of answers on top.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    ContentFetchError,
    ContentInspectionError,
    InputTooLongError,
    ModelStudioError,
    RateLimitError,
)
from .planning import Batch, split_batch
from .retry import RetryPolicy
from .usage import UsageCounter

_log = logging.getLogger("modelstudio_embeddings")
"""Retries are logged (429s at INFO: pacing handles them; the rest at WARNING)."""

__all__ = [
    "ROW_ERRORS",
    "ROW_REASONS",
    "Driver",
    "JobState",
    "Outcome",
    "Receipt",
    "Reply",
    "Request",
    "Send",
    "Sleep",
    "Step",
    "retry_cost",
]


@dataclass(frozen=True)
class Request:
    """One HTTP request to the service, by kind (``embed`` today; the Batch API's upload,
    create, poll and download, and rerank, later), with its path below the host."""

    kind: str
    path: str
    body: dict[str, Any] | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Reply:
    """A 2xx answer, not yet read."""

    status: int
    content: bytes


Outcome = Reply | ModelStudioError
"""What an executor sends back for a ``Send``: the answer, or the library error."""


@dataclass
class Receipt:
    """What one request cost the account's budget: estimated before it was sent (by the
    executor), used as its answer said (by the call)."""

    estimate: float = 0.0
    used: float | None = None
    refused: bool = False
    """Answered 429: the service used none of it, but its budget is spent (no refund)."""
    granted: bool = False
    """The budget granted it (given back if the request is then never sent)."""
    sent: bool = False
    """The request went out (from then on the service may have counted it)."""


@dataclass(frozen=True)
class Send:
    """Send ``request`` (carrying the rows of ``batch``, ``chars`` characters in all) and
    report back the outcome."""

    request: Request
    batch: Batch
    chars: int = 0
    receipt: Receipt = field(default_factory=Receipt, compare=False)


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next step (back-off between attempts)."""

    seconds: float


Step = Send | Sleep
Driver = Generator[Step, Outcome, None]


# Errors that one bad row causes for its whole request: isolate the row by halving.
ROW_ERRORS: tuple[type[ModelStudioError], ...] = (
    ContentInspectionError,
    InputTooLongError,
    ContentFetchError,
)
ROW_REASONS: Mapping[type[ModelStudioError], str] = {
    ContentInspectionError: "content moderation refused",
    InputTooLongError: "the service found too long or empty",
    ContentFetchError: "the service could not fetch",
}
"""What each row error says the service did, for the message naming the rows."""


class JobState:
    """What every job (an embedding ``Call``, a rerank call) shares: its stop flag, deadline,
    first fatal error, and the decision to retry a failed request or give up. Written once so
    every kind of request retries, stops and expires alike."""

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        usage: UsageCounter,
        deadline: float | None,
        timeout: float | None,
        rng: random.Random | None,
        clock: Callable[[], float],
    ) -> None:
        self._retry = retry
        self._usage = usage
        self._deadline = deadline
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._fatal: ModelStudioError | None = None
        self._stop = threading.Event()
        self._timeout = timeout
        self._clock = clock
        self._flagged: dict[type[ModelStudioError], list[tuple[int, ModelStudioError]]] = {}
        """Rows refused alone for their content or length, by error class, with the error."""

    @property
    def stopped(self) -> threading.Event:
        """Set once the call must start nothing more: stopped by its caller, or failed for good.
        The sync executor sleeps on it, so a back-off ends the moment the call does."""
        return self._stop

    @property
    def deadline(self) -> float | None:
        """The clock time (``time.monotonic``) by which the call must end, if any."""
        return self._deadline

    def stop(self) -> None:
        """Start no further requests or retries (the caller was cancelled or interrupted)."""
        self._stop.set()

    def _over(self) -> bool:
        return self._stop.is_set() or self._fatal is not None

    def request_timeout(self) -> float | None:
        """Seconds a request sent now may take in all: the per-request timeout, cut to what
        is left before the deadline (never below a millisecond)."""
        if self._deadline is None:
            return self._timeout
        left = max(0.001, self._deadline - self._clock())
        return left if self._timeout is None else min(self._timeout, left)

    def time_left(self) -> float | None:
        """Seconds until the deadline (None without one), for waits outside a request."""
        return None if self._deadline is None else max(0.0, self._deadline - self._clock())

    def fail(self, error: ModelStudioError) -> None:
        """End the call with ``error`` (the first one wins); every worker stops."""
        with self._lock:
            if self._fatal is None:
                self._fatal = error
        self._stop.set()

    _fail = fail

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    def _isolate(self, batch: Batch, error: ModelStudioError) -> list[Batch] | None:
        """After one row's content or length failed ``batch``: its halves, or (the row alone)
        no piece, the row flagged; None for any other error."""
        if not isinstance(error, ROW_ERRORS):
            return None
        if batch.rows > 1:
            return split_batch(batch)
        with self._lock:
            self._flagged.setdefault(type(error), []).append((batch.start, error))
        return []

    def _sleep_crosses_deadline(self, delay: float) -> bool:
        return self._deadline is not None and self._clock() + delay >= self._deadline

    def _backoff(self, error: ModelStudioError, retries: int) -> float | None:
        """Seconds to wait before re-sending a request that failed with ``error`` (counted as a
        retry), or None: the call has failed with it, or was stopped meanwhile."""
        delay = self._retry.delay(0 if _contended(error) else retries, error, self._rng)
        if delay is None or self._sleep_crosses_deadline(delay):
            why = self._retry.why_final(error, retries)
            if why and why not in error.message:
                error.message = f"{error.message} {why}"
            self._fail(error)
            return None
        if self._over():  # stopped while the request was out: no retry
            return None
        self._usage.add(retries=1)
        if retries == 0:  # one line per retried request at most
            _log.log(
                logging.INFO if isinstance(error, RateLimitError) else logging.WARNING,
                "Retrying a request in %.1f s after %s: %s",
                delay,
                type(error).__name__,
                error.message,
            )
        return delay


def _contended(error: ModelStudioError) -> bool:
    return isinstance(error, RateLimitError) and error.contended


def retry_cost(error: ModelStudioError) -> int:
    """How much a retry after ``error`` counts against ``max_retries``: nothing for a 429
    while the client's other requests are accepted (the budget paces it; the call fails on
    429s only once the account has accepted nothing of it for a while), else one."""
    return 0 if _contended(error) else 1
