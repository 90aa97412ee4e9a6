"""A LlamaIndex transformation that fills ``node.embedding`` from a Batch API run.

Put it last in an ``IngestionPipeline`` (after the splitter): the nodes' texts, as LlamaIndex
would embed them (``MetadataMode.EMBED``), go through one resumable batch job at half price,
and ``VectorStoreIndex(nodes)`` then embeds nothing again (it only embeds nodes whose
``embedding`` is None). Nodes whose rows still failed are left without an embedding, so the
index embeds just those in real time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent
from pydantic import Field

from modelstudio_embeddings.batch.lookup import embed_corpus

__all__ = ["BatchEmbeddingTransform"]


class BatchEmbeddingTransform(TransformComponent):
    """Embed nodes through the Batch API; ``job_options`` go to ``BatchJob`` (model,
    dimensions, api_key, base_url, completion_window, poll_interval, realtime_fallback...)."""

    manifest_dir: str = Field(description="Where the runs' manifests live (one per node set).")
    job_options: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @classmethod
    def class_name(cls) -> str:
        return "ModelStudioBatchEmbeddingTransform"

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        waiting = [node for node in nodes if node.embedding is None]
        if not waiting:
            return nodes
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in waiting]
        lookup = embed_corpus(texts, self.manifest_dir, **self.job_options)
        for node, text in zip(waiting, texts, strict=True):
            vector = lookup.get(text)
            if vector is not None:
                node.embedding = vector.tolist()
        return nodes
