"""Multimodal embeddings: texts, images and videos in one vector space (Model Studio's
``qwen3-vl-embedding``, ``tongyi-embedding-vision-plus``/``-flash``, ``multimodal-embedding-v1``),
on the same core as text embeddings and rerank."""

from __future__ import annotations

from .client import MultimodalEmbeddingClient
from .items import Image, Item, Text, Video
from .models import DEFAULT_MULTIMODAL_MODEL, MULTIMODAL_MODELS, MultimodalSpec

__all__ = [
    "DEFAULT_MULTIMODAL_MODEL",
    "MULTIMODAL_MODELS",
    "Image",
    "Item",
    "MultimodalEmbeddingClient",
    "MultimodalSpec",
    "Text",
    "Video",
]
