"""LlamaIndex ``MultiModalEmbedding`` over the core multimodal client: texts and images in one
space for multimodal indexes, each batch one core call, with no logic of its own."""

from __future__ import annotations

from io import BytesIO
from typing import Any, Literal

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType
from pydantic import ConfigDict, Field, PrivateAttr

from modelstudio_embeddings import (
    ConfigurationError,
    FileBudget,
    LocalBudget,
    MultimodalEmbeddingClient,
    RateLimit,
    RayBudget,
    RetryPolicy,
    Usage,
)
from modelstudio_embeddings.adapting import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    build_multimodal,
    configured,
)
from modelstudio_embeddings.multimodal import DEFAULT_MULTIMODAL_MODEL, MULTIMODAL_MODELS, Image

from ._keyless import KeylessRebuild
from ._whole_batches import WholeBatches
from .embeddings import default_embed_batch_size

__all__ = ["ModelStudioMultiModalEmbedding"]


class ModelStudioMultiModalEmbedding(KeylessRebuild, WholeBatches, MultiModalEmbedding):
    """Alibaba Cloud Model Studio multimodal embeddings (qwen3-vl-embedding, tongyi-embedding-
    vision-plus/-flash, multimodal-embedding-v1) for LlamaIndex: ``image_embed_model=`` of a
    ``MultiModalVectorStoreIndex``, and its text model too (one space for both).

    Images are local paths, http(s) URLs or ``BytesIO`` (what ``ImageNode.resolve_image``
    gives). A batch of images or texts is one core call whatever ``embed_batch_size`` is
    (requests within the model's limits, retries, typed errors), so the ``indices`` and
    ``partial`` of a ``ContentInspectionError`` or ``ContentFetchError`` are positions in the
    list LlamaIndex passed; its events are still emitted per ``embed_batch_size`` chunk. The key
    is never serialized.

    In a ``MultiModalVectorStoreIndex``, pass this model as ``embed_model`` too: text nodes and
    text queries are then in the images' space, and the scores ``retrieve`` merges from both
    stores are comparable.
    """

    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(
        default=DEFAULT_MULTIMODAL_MODEL, frozen=True, description="A multimodal model."
    )
    base_url: str | None = Field(default=None, frozen=True, description="Host or its URL.")
    region: str | None = Field(default=None, frozen=True, description="e.g. cn-beijing.")
    workspace_id: str | None = Field(default=None, frozen=True, description="Its own host.")
    dimensions: int | None = Field(default=None, frozen=True, description="Output width.")
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY, frozen=True, description="Requests in flight, all calls."
    )
    max_retries: int | None = Field(
        default=None, frozen=True, description="Re-sends of 429/5xx/timeouts (policy's: 6)."
    )
    timeout: float = Field(default=DEFAULT_TIMEOUT, frozen=True, description="Seconds a request.")
    adaptive_concurrency: bool = Field(
        default=True, frozen=True, description="Halve requests in flight on a 429."
    )
    allow_insecure_http: bool = Field(
        default=False, frozen=True, description="Plain http to a host of your own."
    )
    rate_limit: RateLimit | Literal[False] | None = Field(
        default=None, frozen=True, description="The account's RPM/TPM; None: learned."
    )
    rate_budget: LocalBudget | FileBudget | RayBudget | None = Field(
        default=None, frozen=True, description="This process, a shared file or a Ray actor."
    )

    _api_key: str | None = PrivateAttr(default=None)
    _retry_policy: RetryPolicy | None = PrivateAttr(default=None)
    _client: MultimodalEmbeddingClient = PrivateAttr()

    def __init__(
        self,
        model_name: str | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        if model_name and model and model_name != model:
            raise ConfigurationError(f"model_name={model_name!r} and model={model!r} differ.")
        name = model_name or model or DEFAULT_MULTIMODAL_MODEL
        spec = MULTIMODAL_MODELS.get(name)
        if spec is not None:  # an unknown name is refused below, naming the models
            kwargs.setdefault("embed_batch_size", default_embed_batch_size(spec.items_per_request))
        configured(
            type(self).__name__,
            lambda: super(ModelStudioMultiModalEmbedding, self).__init__(model_name=name, **kwargs),
        )
        self._api_key = api_key
        self._retry_policy = retry_policy
        self._client = build_multimodal(
            self.model_name, api_key, {**self.__dict__, "retry_policy": retry_policy}
        )

    @classmethod
    def class_name(cls) -> str:
        return "ModelStudioMultiModalEmbedding"

    @property
    def client(self) -> MultimodalEmbeddingClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, items, images, tokens and estimated cost so far."""
        return self._client.usage

    # --- LlamaIndex's interface: every path goes through the core -------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embeddings([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aget_text_embeddings([query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._client.embed_texts(texts).tolist()  # type: ignore[no-any-return]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._client.aembed_texts(texts)).tolist()  # type: ignore[no-any-return]

    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        images = [_image(path) for path in img_file_paths]
        return self._client.embed(images).tolist()  # type: ignore[no-any-return]

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        images = [_image(path) for path in img_file_paths]
        return (await self._client.aembed(images)).tolist()  # type: ignore[no-any-return]

    # --- batches: one core call each, LlamaIndex's events per chunk ------------------------

    def get_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        """All images in one core call, whatever ``embed_batch_size``: an error's indices and
        partial results are positions in ``img_file_paths``. ``show_progress`` draws nothing
        (the multimodal client has no progress bar)."""
        with self._chunk_events(img_file_paths, texts=False) as done:
            vectors = self._get_image_embeddings(img_file_paths)
            done(vectors)
        return vectors

    async def aget_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        """``get_image_embedding_batch`` natively on asyncio, as one core call."""
        with self._chunk_events(img_file_paths, texts=False) as done:
            vectors = await self._aget_image_embeddings(img_file_paths)
            done(vectors)
        return vectors


def _image(image: ImageType) -> Image:
    """LlamaIndex's image (a path or URL ``str``, or a ``BytesIO``) as the core's ``Image``."""
    return Image(image.getvalue() if isinstance(image, BytesIO) else image)
