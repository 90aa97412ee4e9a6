"""LangChain integration for Alibaba Cloud Model Studio text embeddings and reranking."""

try:
    import langchain_core  # noqa: F401  (the framework is an extra)
except ImportError as exc:  # pragma: no cover  (the test suite has every extra)
    raise ImportError(
        "langchain_modelstudio needs LangChain: pip install 'modelstudio-embeddings[langchain]' "
        "(or [all] for both frameworks)."
    ) from exc

from .batch import BatchPrecomputedEmbeddings
from .embeddings import ModelStudioEmbeddings
from .multimodal import ModelStudioMultimodalEmbeddings
from .rerank import ModelStudioRerank

__all__ = [
    "BatchPrecomputedEmbeddings",
    "ModelStudioEmbeddings",
    "ModelStudioMultimodalEmbeddings",
    "ModelStudioRerank",
]
