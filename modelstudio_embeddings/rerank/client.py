"""RerankClient: Model Studio's rerank models on the same core as the embeddings: one model
table, the same transports, executor (in-flight bound, retries, typed errors) and usage.

``rerank`` checks the input, cuts or refuses items over the model's limit before any request,
splits the candidates into requests within the model's limits, runs them through the
executor (threads, or the running event loop for ``arerank``) and merges the scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..core.config import RERANK_COMPATIBLE_PATH
from ..core.planning import Batch, least_tokens, rows_over_limit
from ..core.retry import RetryPolicy
from ..core.service import ServiceClient
from ..core.settings import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from ..core.usage import Usage
from .call import RerankCall, RerankRequests
from .models import DEFAULT_RERANK_MODEL, RerankSpec
from .planning import (
    byte_bound,
    plan_requests,
    too_long_error,
    validate_documents,
    validate_instruct,
    validate_query,
    validate_top_n,
)
from .settings import RerankSettings

__all__ = ["RerankClient"]


class RerankClient(ServiceClient[RerankSettings]):
    """Reranks documents against a query with one Model Studio rerank model: ``rerank`` (sync)
    and ``arerank`` (asyncio).

    Any number of documents per call: they are split into requests within the model's
    documents and tokens per request and merged, which changes no score (each is per pair).
    Requests run up to ``max_concurrency`` at once and are retried only for 429, 5xx,
    timeouts and connection errors. The key comes from ``api_key`` or ``DASHSCOPE_API_KEY``
    and is never pickled, printed or logged.

    Args:
        model: ``qwen3-rerank`` (default), ``gte-rerank-v2`` or ``qwen3-vl-rerank``.
        api_key: The key; else ``DASHSCOPE_API_KEY``. Keys are per region.
        base_url: A host or any URL of the service; else ``DASHSCOPE_BASE_URL``, else Beijing.
        region: ``cn-beijing``, ``ap-southeast-1``, ... instead of ``base_url``.
        workspace_id: With ``region``: the workspace's own host.
        max_concurrency: Requests in flight at most, across every call of this client.
        max_retries: Re-sends of a request after a 429, 5xx, timeout or connection error.
        timeout: Seconds one request may take in all.
        retry_policy: Back-off and limits of retries (agreeing with ``max_retries``).
        on_too_long: ``error`` refuses a query or document over the model's item limit,
            naming it before any request; ``truncate`` cuts it down to the limit.
        tokenizer: ``auto``, ``qwen`` or ``estimate`` token counts for the limits.
        protocol: ``compatible`` or ``native``; None: the model's own (compatible for
            qwen3-rerank, native for gte-rerank-v2 and qwen3-vl-rerank).
        adaptive_concurrency: Halve the in-flight bound on a 429, grow it back with time.
        allow_insecure_http: Allow plain ``http://`` to a host that is not loopback.
    """

    spec: RerankSpec

    def __init__(
        self,
        model: str = DEFAULT_RERANK_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        on_too_long: str = "error",
        tokenizer: str = "auto",
        protocol: str | None = None,
        adaptive_concurrency: bool = True,
        allow_insecure_http: bool = False,
    ) -> None:
        settings = RerankSettings(
            model=model,
            base_url=base_url,
            region=region,
            workspace_id=workspace_id,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            adaptive_concurrency=adaptive_concurrency,
            allow_insecure_http=allow_insecure_http,
            retry_policy=retry_policy,
            protocol=protocol,
            on_too_long=on_too_long,
            tokenizer=tokenizer,
        )
        self._connect(settings, api_key)

    # --- settings, as attributes ---------------------------------------------------------------

    @property
    def protocol(self) -> str:
        """The protocol in force: the one given, or the model's own."""
        return self.settings.wire

    @property
    def base_url(self) -> str:
        """The compatible rerank base URL (``.../compatible-api/v1``), or the host for native."""
        host = self._config.host_url
        return host + RERANK_COMPATIBLE_PATH if self.protocol == "compatible" else host

    @property
    def usage(self) -> Usage:
        """What this client has done: requests, retries, documents scored (``rows``), billed
        tokens and their estimated cost where the model's price is published."""
        return self._usage.snapshot()

    # --- public ----------------------------------------------------------------------------

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        instruct: str | None = None,
        *,
        deadline: float | None = None,
    ) -> list[tuple[int, float]]:
        """``(index, relevance_score)`` of the ``top_n`` most relevant documents (all when
        None), most relevant first, ties by index; ``index`` is the position in
        ``documents``. ``instruct`` is the task instruction sent with the query; ``deadline``
        bounds the whole call in seconds."""
        top_n = validate_top_n(top_n)
        call = self._new_call(query, documents, instruct, deadline)
        self._executor.run(call, self._workers(call))
        return call.result(top_n)

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        instruct: str | None = None,
        *,
        deadline: float | None = None,
    ) -> list[tuple[int, float]]:
        """The same as ``rerank``, natively on asyncio; cancelling it cancels its requests."""
        top_n = validate_top_n(top_n)
        call = self._new_call(query, documents, instruct, deadline)
        await self._executor.arun(call, self._workers(call))
        return call.result(top_n)

    def __repr__(self) -> str:
        return (
            f"RerankClient(model={self.model!r}, protocol={self.protocol!r}, "
            f"base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"
        )

    # --- planning ------------------------------------------------------------------------------

    def _new_call(
        self,
        query: str,
        documents: Sequence[str],
        instruct: str | None,
        deadline: float | None,
    ) -> RerankCall:
        instruct = validate_instruct(instruct)
        query, rows = self._prepare(validate_query(query), validate_documents(documents))
        secret = self._config.api_key
        requests = RerankRequests(
            protocol=self.protocol,
            model=self.model,
            query=query,
            instruct=instruct,
            base_url=self.base_url,
            redact=lambda text: text.replace(secret, "<redacted>"),
        )
        return RerankCall(
            rows,
            self._plan(query, rows),
            requests=requests,
            retry=self.retry_policy,
            usage=self._usage,
            deadline=None if deadline is None else time.monotonic() + deadline,
            timeout=self.timeout,
        )

    def _workers(self, call: RerankCall) -> int:
        return min(self.max_concurrency, call.batches_pending)

    def _prepare(self, query: str, documents: list[str]) -> tuple[str, list[str]]:
        """Query and documents, each within the item limit (cut down if ``on_too_long=
        "truncate"``); else an InputTooLongError naming the query and documents over it."""
        limit = self.spec.tokens_per_item
        truncate = self.on_too_long == "truncate"
        # Without exact counts, refuse only what is over for certain (as for embeddings): the
        # service truncates what is over, it does not refuse it.
        exact = self._tokens.exact
        count = self._tokens.count if exact or truncate else least_tokens
        too_long = rows_over_limit(documents, limit, count)
        query_over = rows_over_limit([query], limit, count)
        if not too_long and not query_over:
            return query, documents
        if not truncate:
            query_tokens = query_over[0][1] if query_over else None
            error = too_long_error(too_long, query_tokens, limit, self.model, exact=exact)
            raise error._bind(base_url=self.base_url)
        if query_over:
            query = self._tokens.truncate(query, limit)
        for i, _ in too_long:
            documents[i] = self._tokens.truncate(documents[i], limit)
        self._usage.add(truncated_rows=len(too_long))
        return query, documents

    def _plan(self, query: str, documents: list[str]) -> list[Batch]:
        """The fewest contiguous requests within the model's limits. A first plan uses counts
        no tokenizer can exceed; only if the token limit then costs an extra request are the
        items counted properly and the plan made again."""
        spec = self.spec
        limit = spec.tokens_per_item

        def plan(count: Callable[[str], int]) -> list[Batch]:
            return plan_requests(
                min(count(query), limit),
                [min(count(document), limit) for document in documents],
                documents_per_request=spec.documents_per_request,
                tokens_per_request=spec.tokens_per_request,
            )

        batches = plan(byte_bound)
        fewest = -(-len(documents) // spec.documents_per_request)
        return batches if len(batches) <= fewest else plan(self._tokens.count)
