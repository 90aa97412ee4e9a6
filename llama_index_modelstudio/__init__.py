"""LlamaIndex integration for Alibaba Cloud Model Studio text embeddings."""

from .embeddings import ModelStudioEmbedding

__all__ = ["ModelStudioEmbedding"]
