"""One embedding call as a state machine (sans-I/O): which request to send next, what to do
with each answer, and the final result.

The executors (``executor.py``) only carry out the steps this yields (send a request, sleep)
and send back what came of them (a 2xx ``Reply`` or a library error), so batching, retries,
re-splitting, row isolation and reading answers into the output are written once, here.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import (
    APITimeoutError,
    ContentFetchError,
    ContentInspectionError,
    InputTooLongError,
    ModelStudioError,
    PartialEmbeddings,
    RateLimitError,
    ResponseValidationError,
    RowLimitError,
    translate_success_error,
)
from .planning import Batch, plan_batches, split_batch
from .retry import RetryPolicy
from .usage import UsageCounter
from .wire import EmbedOptions, Protocol, SparseEmbedding, decode_json

_log = logging.getLogger("modelstudio_embeddings")
"""Retries are logged (429s at INFO: pacing handles them; the rest at WARNING)."""

__all__ = [
    "Call",
    "EmbedRequests",
    "JobState",
    "Outcome",
    "Receipt",
    "Reply",
    "Request",
    "Send",
    "Sleep",
    "Step",
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


@dataclass(frozen=True)
class EmbedRequests:
    """How one call's batches become requests in one protocol, and who answers for errors."""

    protocol: Protocol
    model: str
    dimensions: int | None
    """Sent to the service, or None where the model ignores it."""
    options: EmbedOptions
    base_url: str
    redact: Callable[[str], str] = lambda text: text
    """Removes the key from text the service sent back."""

    def request(self, texts: list[str]) -> Request:
        body = self.protocol.body(self.model, texts, self.dimensions, self.options)
        return Request("embed", self.protocol.path, body)


# Errors that one bad row causes for its whole request: isolate the row by halving.
_ROW_ERRORS: tuple[type[ModelStudioError], ...] = (
    ContentInspectionError,
    InputTooLongError,
    ContentFetchError,
)
_ROW_REASONS: Mapping[type[ModelStudioError], str] = {
    ContentInspectionError: "content moderation refused",
    InputTooLongError: "the service found too long or empty",
    ContentFetchError: "the service could not fetch",
}


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
        if not isinstance(error, _ROW_ERRORS):
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


class Call(JobState):
    """The state of one ``embed`` call: the output, what is done, what failed and why."""

    def __init__(
        self,
        texts: Sequence[Any],
        width: int,
        *,
        requests: EmbedRequests,
        lists: bool = False,
        rows_per_request: Callable[[], int],
        learn_rows_per_request: Callable[[int], None],
        retry: RetryPolicy,
        usage: UsageCounter,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
        timeout: float | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.texts = texts
        self._requests = requests
        self.options = requests.options
        width = width if self.options.dense else 0
        self.out: npt.NDArray[np.float32] = np.empty((len(texts), width), dtype=np.float32)
        self.sparse: list[SparseEmbedding | None] | None = (
            [None] * len(texts) if self.options.sparse else None
        )
        # The dense rows as Python floats too, filled request by request, if the caller wants.
        self.lists: list[list[float] | None] | None = (
            [None] * len(texts) if lists and self.options.dense else None
        )
        self._done = np.zeros(len(texts), dtype=bool)
        self._pending: deque[Batch] = deque(plan_batches(len(texts), rows_per_request()))
        self._rows_per_request = rows_per_request
        self._learn = learn_rows_per_request
        self._progress = progress
        super().__init__(
            retry=retry, usage=usage, deadline=deadline, timeout=timeout, rng=rng, clock=clock
        )

    @property
    def batches_pending(self) -> int:
        return len(self._pending)

    # --- reading answers: the call writes its own results --------------------------------

    def absorb(
        self, batch: Batch, reply: Reply, receipt: Receipt | None = None
    ) -> ModelStudioError | None:
        """Read one 2xx answer into ``batch``'s rows (dense, sparse, lists) and count it; the
        error, bound to the batch's rows, if the answer is not usable."""
        out = self.out[batch.start : batch.stop] if self.options.dense else None
        requests = self._requests
        try:
            if reply.status != 200 or not reply.content:
                raise ResponseValidationError(
                    f"The service answered {reply.status} with {len(reply.content)} bytes, "
                    "not 200 with the vectors."
                )
            payload = decode_json(reply.content)
            if _is_error_envelope(payload):
                error = translate_success_error(payload)
                error.message = requests.redact(error.message)
                raise error
            parsed = requests.protocol.parse(payload, out, self.options, batch.rows)
        except (ModelStudioError, ValueError, TypeError) as exc:
            error = (
                exc
                if isinstance(exc, ModelStudioError)
                else ResponseValidationError(f"The service's response is not usable: {exc}.")
            )
            return error._bind(
                model=requests.model, base_url=requests.base_url, indices=batch.indices
            )
        if parsed.sparse is not None:
            self._absorb_sparse(batch, parsed.sparse)
        if self.lists is not None:
            self._absorb_lists(batch)
        self._usage.add(
            rows=batch.rows, prompt_tokens=parsed.prompt_tokens or 0, **dict(parsed.counts)
        )
        if receipt is not None and parsed.prompt_tokens is not None:
            receipt.used = parsed.prompt_tokens
        return None

    def _absorb_sparse(self, batch: Batch, rows: list[SparseEmbedding]) -> None:
        assert self.sparse is not None
        self.sparse[batch.start : batch.stop] = rows

    def _absorb_lists(self, batch: Batch) -> None:
        """The dense rows as Python floats too, converted as each answer lands."""
        assert self.lists is not None
        self.lists[batch.start : batch.stop] = self.out[batch.start : batch.stop].tolist()

    # --- the driver: one per worker ------------------------------------------------------

    def drive(self) -> Driver:
        """Steps for one worker until no batch is left; each Send is answered by its outcome.

        A worker ends as soon as the call is stopped or has failed for good, between any two
        steps: no request or retry goes out for a call that can no longer succeed."""
        while (batch := self._next_batch()) is not None:
            stack = [batch]
            while stack and not self._over():
                current = stack.pop()
                retries = 0
                while not self._over():
                    if self._past_deadline():
                        self._fail(self._deadline_error(current))
                        return
                    send = self._send_for(current)
                    outcome = yield send
                    error = (
                        outcome
                        if isinstance(outcome, ModelStudioError)
                        else self.absorb(current, outcome, send.receipt)
                    )
                    if error is None:
                        self._succeeded(current)
                        break
                    if self._past_deadline() and not isinstance(error, _ROW_ERRORS):
                        self._fail(self._deadline_error(current, error))
                        return
                    pieces = self._pieces_after(current, error)
                    if pieces is not None:
                        stack.extend(reversed(pieces))
                        break
                    delay = self._backoff(error, retries)
                    if delay is None:
                        return
                    retries += retry_cost(error)
                    yield Sleep(delay)

    def _send_for(self, batch: Batch) -> Send:
        """The request carrying ``batch``'s rows (a family with other rows than texts builds
        its own here, when the batch is about to be sent)."""
        texts: list[str] = list(self.texts[batch.start : batch.stop])
        return Send(self._requests.request(texts), batch, sum(map(len, texts)))

    def _next_batch(self) -> Batch | None:
        with self._lock:
            if self._over() or not self._pending:
                return None
            batch = self._pending.popleft()
            limit = self._rows_per_request()
            if batch.rows > limit:
                first, *rest = split_batch(batch, limit)
                self._pending.extendleft(reversed(rest))
                batch = first
            return batch

    def _succeeded(self, batch: Batch) -> None:
        self._done[batch.start : batch.stop] = True
        if self._progress is not None:
            self._progress(batch.rows)

    def _pieces_after(self, batch: Batch, error: ModelStudioError) -> list[Batch] | None:
        """Smaller requests that can still succeed after ``error``, or None if there are none."""
        if isinstance(error, RowLimitError) and 0 < error.limit < batch.rows:
            self._learn(error.limit)
            return split_batch(batch, error.limit)
        return self._isolate(batch, error)

    def expire(self) -> None:
        """The deadline passed while requests were still in flight: end the call now."""
        self.fail(
            APITimeoutError(
                "The call's deadline passed before every row was embedded; requests still in "
                "flight were abandoned.",
                indices=np.flatnonzero(~self._done).tolist(),
            )
        )

    def _deadline_error(
        self, batch: Batch, cause: ModelStudioError | None = None
    ) -> ModelStudioError:
        why = f" (last: {cause.message})" if cause is not None else ""
        return APITimeoutError(
            f"The call's deadline passed before every row was embedded{why}.",
            indices=batch.indices,
        )

    # --- the result ------------------------------------------------------------------------

    def partial(self) -> PartialEmbeddings:
        """The rows that did succeed, for an exception to carry."""
        indices = np.flatnonzero(self._done)
        sparse = None if self.sparse is None else tuple(self.sparse[i] for i in indices)
        return PartialEmbeddings(
            indices=tuple(int(i) for i in indices), vectors=self.out[indices], sparse=sparse
        )

    def result(self) -> npt.NDArray[np.float32]:
        """Every row's vector, or the failure with what did succeed on ``.partial``."""
        if self._fatal is not None:
            self._fatal.partial = self.partial()
            raise self._fatal
        for kind in _ROW_ERRORS:
            flagged = sorted(self._flagged.get(kind, []), key=lambda pair: pair[0])
            if flagged:
                raise self._row_error(kind, flagged)
        if not self._done.all():
            raise ModelStudioError(
                "The call stopped before every row was embedded.",
                indices=np.flatnonzero(~self._done).tolist(),
                partial=self.partial(),
            )
        return self.out

    def result_lists(self) -> list[list[float]]:
        """``result``, as the Python lists filled while the requests landed."""
        self.result()
        assert self.lists is not None, "the call was not made with lists=True"
        return self.lists  # type: ignore[return-value]  # result() checked every row is there

    def _row_error(
        self, kind: type[ModelStudioError], flagged: list[tuple[int, ModelStudioError]]
    ) -> ModelStudioError:
        indices = [i for i, _ in flagged]
        first = flagged[0][1]
        what = _ROW_REASONS[kind]
        return kind(
            f"{first.message} ({what} {len(indices)} of {len(self.texts)} rows; "
            "every other row was embedded).",
            status_code=first.status_code,
            code=first.code,
            request_id=first.request_id,
            model=first.model,
            base_url=first.base_url,
            indices=indices,
            partial=self.partial(),
        )


def _contended(error: ModelStudioError) -> bool:
    return isinstance(error, RateLimitError) and error.contended


def retry_cost(error: ModelStudioError) -> int:
    """How much a retry after ``error`` counts against ``max_retries``: nothing for a 429
    while the client's other requests are accepted (the budget paces it; the call fails on
    429s only once the account has accepted nothing of it for a while), else one."""
    return 0 if _contended(error) else 1


def _is_error_envelope(payload: object) -> bool:
    """A success status whose body is the service's error envelope, not vectors."""
    if not isinstance(payload, Mapping):
        return False
    if "data" in payload or "output" in payload:
        return False
    return isinstance(payload.get("error"), Mapping) or "code" in payload
