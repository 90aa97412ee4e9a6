"""LlamaIndex integration for Alibaba Cloud Model Studio text embeddings and reranking."""

try:
    import llama_index.core  # noqa: F401  (the framework is an extra)
except ImportError as exc:  # pragma: no cover  (the test suite has every extra)
    raise ImportError(
        "llama_index_modelstudio needs LlamaIndex: "
        "pip install 'modelstudio-embeddings[llama-index]' (or [all] for both frameworks)."
    ) from exc

from .batch import BatchEmbeddingTransform
from .embeddings import ModelStudioEmbedding
from .multimodal import ModelStudioMultiModalEmbedding
from .rerank import ModelStudioRerank

__all__ = [
    "BatchEmbeddingTransform",
    "ModelStudioEmbedding",
    "ModelStudioMultiModalEmbedding",
    "ModelStudioRerank",
]
