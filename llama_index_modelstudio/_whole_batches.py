"""A LlamaIndex batch as one core call: the core already cuts it into requests, so an error's
indices and partial results are positions in the caller's list, while LlamaIndex's cache,
rate limiter and events behave as its own per-``embed_batch_size`` batching makes them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import llama_index.core.instrumentation as instrument
from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.instrumentation.events.embedding import (
    EmbeddingEndEvent,
    EmbeddingStartEvent,
)

from modelstudio_embeddings import ModelStudioError
from modelstudio_embeddings.adapting import errors_at

dispatcher = instrument.get_dispatcher(__name__)  # type: ignore[attr-defined]

__all__ = ["WholeBatches"]


class WholeBatches:
    """Mixed into a LlamaIndex embedding class (``BaseEmbedding`` or ``MultiModalEmbedding``)."""

    if TYPE_CHECKING:  # the host class's fields, not declared here so pydantic sees no new ones
        embed_batch_size: int
        embeddings_cache: Any
        rate_limiter: Any
        callback_manager: CallbackManager

        def to_payload(self) -> dict[str, Any]: ...

        def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]: ...

        async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]: ...

    def _batch_bar(self, asked: bool, total: int) -> AbstractContextManager[object]:
        """A progress bar over one batch call's rows; the class's own, if it draws one."""
        return nullcontext()

    @dispatcher.span
    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """All texts in one core call, whatever ``embed_batch_size``: the core already splits
        them into requests, so an error's indices and partial results are positions in
        ``texts``. LlamaIndex's cache is read and filled and its events are emitted per
        ``embed_batch_size`` chunk, as its own batching does."""
        with self._batch_bar(show_progress, len(texts)), self._chunk_events(texts) as done:
            missing, found = self._cached(texts)
            try:
                fresh = self._get_text_embeddings([texts[i] for i in missing])
            except ModelStudioError as exc:
                raise errors_at(exc, missing, found) from None
            vectors = self._merge(texts, missing, found, fresh)
            done(vectors)
        return vectors

    @dispatcher.span
    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """``get_text_embedding_batch`` natively on asyncio, as one core call."""
        with self._batch_bar(show_progress, len(texts)), self._chunk_events(texts) as done:
            missing, found = self._cached(texts)
            try:
                fresh = await self._aget_text_embeddings([texts[i] for i in missing])
            except ModelStudioError as exc:
                raise errors_at(exc, missing, found) from None
            vectors = self._merge(texts, missing, found, fresh)
            done(vectors)
        return vectors

    def _cached(self, texts: list[str]) -> tuple[list[int], dict[int, Embedding]]:
        """Positions to embed, and the vectors LlamaIndex's ``embeddings_cache`` already has."""
        cache = self.embeddings_cache
        found: dict[int, Embedding] = {}
        if cache is not None:
            for i, text in enumerate(texts):
                hit = cache.get(key=text, collection="embeddings")
                if hit is not None:
                    found[i] = next(iter(hit.values()))
        return [i for i in range(len(texts)) if i not in found], found

    def _merge(
        self,
        texts: list[str],
        missing: list[int],
        found: dict[int, Embedding],
        fresh: list[Embedding],
    ) -> list[Embedding]:
        """Every text's vector in order: the cache's hits and the fresh ones (now cached)."""
        cache = self.embeddings_cache
        if not found and cache is None:
            return fresh
        vectors: dict[int, Embedding] = dict(found)
        for i, vector in zip(missing, fresh, strict=True):
            vectors[i] = vector
            if cache is not None:
                cache.put(key=texts[i], val={str(uuid.uuid4()): vector}, collection="embeddings")
        return [vectors[i] for i in range(len(texts))]

    @contextmanager
    def _chunk_events(
        self, items: Sequence[Any], *, texts: bool = True
    ) -> Iterator[Callable[[list[Embedding]], None]]:
        """LlamaIndex's start and end events, one pair per ``embed_batch_size`` chunk as its own
        batching emits them: callbacks always; for texts, instrumentation events and the rate
        limiter too (LlamaIndex's image batching has neither). ``done`` ends them; an error ends
        them with the exception as the payload."""
        size = self.embed_batch_size
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        model_dict = self.to_payload()
        if texts and self.rate_limiter is not None:
            for _ in chunks:
                self.rate_limiter.acquire()
        ids = []
        for _ in chunks:
            if texts:
                dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
            ids.append(
                self.callback_manager.on_event_start(
                    CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: model_dict}
                )
            )

        ended = False

        def done(vectors: list[Embedding]) -> None:
            nonlocal ended
            ended = True
            for k, (chunk, event_id) in enumerate(zip(chunks, ids, strict=True)):
                part = vectors[k * size : k * size + len(chunk)]
                if texts:
                    dispatcher.event(EmbeddingEndEvent(chunks=chunk, embeddings=part))
                self.callback_manager.on_event_end(
                    CBEventType.EMBEDDING,
                    payload={EventPayload.CHUNKS: chunk, EventPayload.EMBEDDINGS: part},
                    event_id=event_id,
                )

        try:
            yield done
        except BaseException as exc:  # every chunk's event ends with it, as LlamaIndex's do
            if not ended:
                for event_id in ids:
                    self.callback_manager.on_event_end(
                        CBEventType.EMBEDDING,
                        payload={EventPayload.EXCEPTION: exc},
                        event_id=event_id,
                    )
            raise
