"""One embedding call as a state machine (sans-I/O) on ``JobState``: which request to send
next, what to do with each answer (place rows by index, re-split on a row limit, isolate a
refused row), and the final result or the error with what succeeded.

Shared by every embedding family: the text family's requests come from its ``Protocol``; the
multimodal family's ``Call`` subclass builds its own (``_send_for``) from items."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .answers import decode_json, is_error_envelope
from .errors import (
    APITimeoutError,
    ModelStudioError,
    PartialEmbeddings,
    ResponseValidationError,
    RowLimitError,
    translate_success_error,
)
from .execution import (
    ROW_ERRORS,
    ROW_REASONS,
    Driver,
    JobState,
    Receipt,
    Reply,
    Request,
    Send,
    Sleep,
    retry_cost,
)
from .planning import Batch, plan_batches, split_batch
from .retry import RetryPolicy
from .usage import UsageCounter
from .vectors import EmbedOptions, Protocol, SparseEmbedding

__all__ = ["Call", "EmbedRequests"]


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
            if is_error_envelope(payload):
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
                    if self._past_deadline() and not isinstance(error, ROW_ERRORS):
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
        for kind in ROW_ERRORS:
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
        what = ROW_REASONS[kind]
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
