"""LlamaIndex ``BaseNodePostprocessor`` over the core rerank client: no batching, retry or
error logic of its own, LlamaIndex's rerank events around every call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import llama_index.core.instrumentation as instrument
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import Field, PrivateAttr

from modelstudio_embeddings import ConfigurationError, RerankClient, RetryPolicy, Usage
from modelstudio_embeddings.adapting import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RERANK_MODEL,
    DEFAULT_TIMEOUT,
    build_reranker,
    configured,
)

from ._keyless import KeylessRebuild

dispatcher = instrument.get_dispatcher(__name__)  # type: ignore[attr-defined]

__all__ = ["ModelStudioRerank"]


class ModelStudioRerank(KeylessRebuild, BaseNodePostprocessor):
    """Alibaba Cloud Model Studio reranking (qwen3-rerank, gte-rerank-v2, qwen3-vl-rerank) as a
    LlamaIndex node postprocessor: ``node_postprocessors=[ModelStudioRerank(top_n=5)]``.

    Returns the ``top_n`` most relevant nodes (all when None), best first, each with its
    relevance score as ``score``; emits ``ReRankStartEvent`` / ``ReRankEndEvent`` and the
    RERANKING callback event. Any number of nodes: the core splits them into requests within
    the model's limits. The key is never serialized (``to_dict``, events, pickles).
    """

    model: str = Field(default=DEFAULT_RERANK_MODEL, frozen=True, description="Rerank model.")
    top_n: int | None = Field(default=5, description="Nodes to keep; None keeps all.")
    instruct: str | None = Field(default=None, description="Task instruction for the query.")
    base_url: str | None = Field(default=None, frozen=True, description="Host or its URL.")
    region: str | None = Field(default=None, frozen=True, description="e.g. ap-southeast-1.")
    workspace_id: str | None = Field(default=None, frozen=True, description="Its own host.")
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY, frozen=True, description="Requests in flight, all calls."
    )
    max_retries: int | None = Field(
        default=None, frozen=True, description="Re-sends of 429/5xx/timeouts (policy's: 6)."
    )
    timeout: float = Field(default=DEFAULT_TIMEOUT, frozen=True, description="Seconds a request.")
    protocol: str | None = Field(default=None, frozen=True, description="None: the model's own.")
    on_too_long: str = Field(default="error", frozen=True, description="'error' or 'truncate'.")
    adaptive_concurrency: bool = Field(
        default=True, frozen=True, description="Halve requests in flight on a 429."
    )
    tokenizer: str = Field(default="auto", frozen=True, description="'auto', 'qwen', 'estimate'.")
    allow_insecure_http: bool = Field(
        default=False, frozen=True, description="Plain http to a host of your own."
    )

    unpickled_without: ClassVar[tuple[str, ...]] = ("callback_manager",)
    _api_key: str | None = PrivateAttr(default=None)
    _retry_policy: RetryPolicy | None = PrivateAttr(default=None)
    _client: RerankClient = PrivateAttr()

    def __init__(
        self,
        *,
        api_key: str | None = None,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        top_n = kwargs.get("top_n")
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int)):
            raise ConfigurationError(f"top_n must be None or an int of at least 1, got {top_n!r}.")
        if top_n is not None and top_n < 1:
            raise ConfigurationError(f"top_n must be None or an int of at least 1, got {top_n}.")
        configured(type(self).__name__, lambda: super(ModelStudioRerank, self).__init__(**kwargs))
        self._api_key = api_key
        self._retry_policy = retry_policy
        self._client = build_reranker(
            self.model, api_key, {**self.__dict__, "retry_policy": retry_policy}
        )

    @classmethod
    def class_name(cls) -> str:
        return "ModelStudioRerank"

    # --- LlamaIndex's interface -------------------------------------------------------------

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = _query(query_bundle)
        if not nodes:
            return []
        with self._events(nodes, query_bundle) as done:
            ranked = self._client.rerank(query, _texts(nodes), self.top_n, self.instruct)
            return done(_scored(nodes, ranked))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = _query(query_bundle)
        if not nodes:
            return []
        with self._events(nodes, query_bundle) as done:
            ranked = await self._client.arerank(query, _texts(nodes), self.top_n, self.instruct)
            return done(_scored(nodes, ranked))

    @contextmanager
    def _events(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> Iterator[Callable[[list[NodeWithScore]], list[NodeWithScore]]]:
        """LlamaIndex's rerank events (instrumentation and callbacks), as its own rerankers
        emit them; ``done(nodes)`` ends them with the reranked nodes and returns those."""
        top_n = self.top_n if self.top_n is not None else len(nodes)
        dispatcher.event(
            ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=top_n, model_name=self.model)
        )
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.model,
                EventPayload.QUERY_STR: query_bundle.query_str if query_bundle else None,
                EventPayload.TOP_K: top_n,
            },
        ) as event:

            def done(reranked: list[NodeWithScore]) -> list[NodeWithScore]:
                event.on_end(payload={EventPayload.NODES: reranked})
                dispatcher.event(ReRankEndEvent(nodes=reranked))
                return reranked

            yield done

    # --- ours -------------------------------------------------------------------------------

    @property
    def client(self) -> RerankClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, tokens and estimated cost so far."""
        return self._client.usage


def _query(query_bundle: QueryBundle | None) -> str:
    if query_bundle is None:
        raise ValueError("ModelStudioRerank needs the query: pass query_bundle or query_str.")
    return query_bundle.query_str


def _texts(nodes: list[NodeWithScore]) -> list[str]:
    return [node.node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]


def _scored(nodes: list[NodeWithScore], ranked: list[tuple[int, float]]) -> list[NodeWithScore]:
    """The ranked nodes, best first, each a new NodeWithScore holding its relevance score."""
    return [NodeWithScore(node=nodes[i].node, score=score) for i, score in ranked]
