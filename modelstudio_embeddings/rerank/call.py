"""One rerank call as a state machine (sans-I/O), the rerank twin of the embedding ``Call``.

It hands out its planned requests to the executor's workers, reads each answer's scores into
their places in the caller's list, and leaves retries, back-off, the deadline and stopping to
``JobState``, which the embedding ``Call`` uses too. The result is every document's score
exactly once, ranked; or the first error that ended the call. A request that one document's
content or length failed is split by halves until that document is alone, so the error
names it (and only it) when the answers tell it apart.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..core.answers import decode_json
from ..core.errors import APITimeoutError, ModelStudioError, ResponseValidationError
from ..core.errors import translate_success_error as error_of_envelope
from ..core.execution import Driver, JobState, Reply, Request, Send, Sleep, retry_cost
from ..core.planning import Batch
from ..core.retry import RetryPolicy
from ..core.usage import UsageCounter
from .wire import RERANK_PATHS, is_rerank_answer, parse_rerank, rerank_body

__all__ = ["RerankCall", "RerankRequests", "rank"]


@dataclass(frozen=True)
class RerankRequests:
    """How one call's batches become requests in one protocol, and who answers for errors."""

    protocol: str
    model: str
    query: str
    instruct: str | None
    base_url: str
    redact: Callable[[str], str] = lambda text: text
    """Removes the key from text the service sent back."""

    def request(self, documents: list[str]) -> Request:
        body = rerank_body(self.protocol, self.model, self.query, documents, self.instruct)
        return Request("rerank", RERANK_PATHS[self.protocol], body)


class RerankCall(JobState):
    """The state of one ``rerank`` call: the scores so far, what is left, and why it failed."""

    def __init__(
        self,
        documents: list[str],
        batches: list[Batch],
        *,
        requests: RerankRequests,
        retry: RetryPolicy,
        usage: UsageCounter,
        deadline: float | None = None,
        timeout: float | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            retry=retry, usage=usage, deadline=deadline, timeout=timeout, rng=rng, clock=clock
        )
        self.documents = documents
        self._requests = requests
        self.scores: list[float | None] = [None] * len(documents)
        self._pending: deque[Batch] = deque(batches)

    @property
    def batches_pending(self) -> int:
        return len(self._pending)

    def drive(self) -> Driver:
        """Steps for one worker until no request is left: each request is sent, and re-sent
        after a transient failure as the retry policy says, until it is answered or the call
        has failed, been stopped or run out of time."""
        while (batch := self._next_batch()) is not None:
            stack = [batch]
            while stack and not self._over():
                current = stack.pop()
                request = self._requests.request(self.documents[current.start : current.stop])
                retries = 0
                while not self._over():
                    if self._past_deadline():
                        self.fail(self._deadline_error(current))
                        return
                    outcome = yield Send(request, current)
                    error = (
                        outcome
                        if isinstance(outcome, ModelStudioError)
                        else self.absorb(current, outcome)
                    )
                    if error is None:
                        break
                    pieces = self._isolate(current, error)
                    if pieces is not None:
                        stack.extend(reversed(pieces))
                        break
                    if self._past_deadline():
                        self.fail(self._deadline_error(current, error))
                        return
                    delay = self._backoff(error, retries)
                    if delay is None:
                        return
                    retries += retry_cost(error)
                    yield Sleep(delay)

    def absorb(self, batch: Batch, reply: Reply) -> ModelStudioError | None:
        """Read one 2xx answer's scores into ``batch``'s places and count it; the error, with
        indices in the caller's list, if the answer is not usable."""
        requests = self._requests
        try:
            if reply.status != 200 or not reply.content:
                raise ResponseValidationError(
                    f"The service answered {reply.status} with {len(reply.content)} bytes, "
                    "not 200 with the scores."
                )
            payload = decode_json(reply.content)
            if not is_rerank_answer(payload):
                error = error_of_envelope(payload)
                error.message = requests.redact(error.message)
                raise error
            answer = parse_rerank(payload, batch.rows)
        except ModelStudioError as error:
            if error.indices is not None:  # positions in the request: make them the caller's
                error.indices = tuple(batch.start + i for i in error.indices)
            return error._bind(
                model=requests.model, base_url=requests.base_url, indices=batch.indices
            )
        self.scores[batch.start : batch.stop] = answer.scores
        self._usage.add(rows=batch.rows, prompt_tokens=answer.total_tokens or 0)
        return None

    def _next_batch(self) -> Batch | None:
        with self._lock:
            if self._over() or not self._pending:
                return None
            return self._pending.popleft()

    def expire(self) -> None:
        """The deadline passed while requests were still in flight: end the call now."""
        self.fail(
            APITimeoutError(
                "The call's deadline passed before every document was scored; requests still "
                "in flight were abandoned.",
                indices=self._unscored(),
            )
        )

    def _deadline_error(
        self, batch: Batch, cause: ModelStudioError | None = None
    ) -> ModelStudioError:
        why = f" (last: {cause.message})" if cause is not None else ""
        return APITimeoutError(
            f"The call's deadline passed before every document was scored{why}.",
            indices=batch.indices,
        )

    def _unscored(self) -> list[int]:
        return [i for i, score in enumerate(self.scores) if score is None]

    def result(self, top_n: int | None = None) -> list[tuple[int, float]]:
        """``(index, score)`` of the ``top_n`` best documents (all by default), best first, ties
        by index; or the error that ended the call."""
        if self._fatal is not None:
            raise self._fatal
        if self._flagged:
            raise self._refusal()
        unscored = self._unscored()
        if unscored:
            raise ModelStudioError(
                "The call stopped before every document was scored.", indices=unscored
            )
        scores: list[float] = self.scores  # type: ignore[assignment]  # every one is set
        return rank(scores, top_n)

    def _refusal(self) -> ModelStudioError:
        """The documents refused alone, by name; or, when every one was (the query may be
        what was refused), an error that names none."""
        refused = sorted(
            (pair for flagged in self._flagged.values() for pair in flagged),
            key=lambda pair: pair[0],
        )
        first = refused[0][1]
        kind = type(first)
        total = len(self.documents)
        if len(refused) == total and total > 1:
            message = (
                f"{first.message} (every one of the {total} documents was refused, alone too: "
                "the query itself may be what was refused)."
            )
            indices: list[int] | None = None
            hint = "Check the query and the documents; nothing was scored."
        else:
            message = f"{first.message} ({len(refused)} of {total} documents refused)."
            indices = [i for i, _ in refused]
            hint = "Drop or rewrite these documents and rerank the rest."
        error = kind(
            message,
            status_code=first.status_code,
            code=first.code,
            request_id=first.request_id,
            model=first.model,
            base_url=first.base_url,
            indices=indices,
        )
        error.hint = hint
        return error


def rank(scores: list[float], top_n: int | None = None) -> list[tuple[int, float]]:
    """``(index, score)`` pairs sorted by score, highest first, ties by index; the first
    ``top_n`` of them (all when None)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [(i, scores[i]) for i in order[:top_n]]
