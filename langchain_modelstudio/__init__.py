"""LangChain integration for Alibaba Cloud Model Studio text embeddings."""

from .embeddings import ModelStudioEmbeddings

__all__ = ["ModelStudioEmbeddings"]
