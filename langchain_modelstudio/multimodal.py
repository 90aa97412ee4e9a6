"""LangChain ``Embeddings`` for Model Studio's multimodal models over the core multimodal
client: texts through LangChain's interface, images through ``embed_image`` (the method
LangChain's vector stores call for ``add_images``), with no logic of its own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from langchain_core.utils import secret_from_env
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from langchain_modelstudio._keyless import KeylessPickling
from modelstudio_embeddings import (
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
from modelstudio_embeddings.multimodal import DEFAULT_MULTIMODAL_MODEL, Item

__all__ = ["ModelStudioMultimodalEmbeddings"]


class ModelStudioMultimodalEmbeddings(KeylessPickling, Serializable, Embeddings):
    """Alibaba Cloud Model Studio multimodal embeddings (qwen3-vl-embedding, tongyi-embedding-
    vision-plus/-flash, multimodal-embedding-v1) for LangChain: texts and images in one space.

    ``embed_documents`` / ``embed_query`` embed texts; ``embed_image(uris)`` embeds images by
    local path or http(s) URL (what ``Chroma.add_images`` calls); ``embed_items`` takes any
    items of the core client. Failures raise ``modelstudio_embeddings``'s typed errors.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    model: str = Field(default=DEFAULT_MULTIMODAL_MODEL, description="A multimodal model.")
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("DASHSCOPE_API_KEY", default=None),
        description="Defaults to DASHSCOPE_API_KEY; never serialized or pickled.",
    )
    base_url: str | None = Field(default=None, description="Host or any URL of it.")
    region: str | None = Field(default=None, description="cn-beijing, ap-southeast-1, ...")
    workspace_id: str | None = None
    dimensions: int | None = Field(default=None, description="Output width; model default.")
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    adaptive_concurrency: bool = Field(default=True, description="Halve in flight on a 429.")
    allow_insecure_http: bool = Field(default=False, description="Plain http to your own host.")
    rate_limit: RateLimit | Literal[False] | None = Field(
        default=None, description="The account's RPM/TPM; None: learned; False: no pacing."
    )
    rate_budget: LocalBudget | FileBudget | RayBudget | None = Field(
        default=None, description="Where the budget lives: this process, a file or a Ray actor."
    )
    retry_policy: RetryPolicy | None = Field(default=None, exclude=True, repr=False)

    _client: MultimodalEmbeddingClient = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        configured(
            type(self).__name__,
            lambda: super(ModelStudioMultimodalEmbeddings, self).__init__(**data),
        )

    @model_validator(mode="after")
    def _build_client(self) -> ModelStudioMultimodalEmbeddings:
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        self._client = build_multimodal(self.model, key, self.__dict__)
        return self

    # --- LangChain's interface ------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, as Python floats."""
        return self._client.embed_texts(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text query (to search images or texts)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """``embed_documents`` natively on asyncio."""
        return (await self._client.aembed_texts(texts)).tolist()  # type: ignore[no-any-return]

    async def aembed_query(self, text: str) -> list[float]:
        """``embed_query`` natively on asyncio."""
        return (await self.aembed_documents([text]))[0]

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """One vector per image, by local path or http(s) URL."""
        return self._client.embed_images(uris).tolist()  # type: ignore[no-any-return]

    def embed_items(self, items: Iterable[Item]) -> list[list[float]]:
        """One vector per item of any kind the core client takes (``str`` is text)."""
        return self._client.embed(items).tolist()  # type: ignore[no-any-return]

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        """``embed_image`` natively on asyncio (LangChain's stores call the sync one)."""
        return (await self._client.aembed_images(uris)).tolist()  # type: ignore[no-any-return]

    async def aembed_items(self, items: Iterable[Item]) -> list[list[float]]:
        """``embed_items`` natively on asyncio."""
        return (await self._client.aembed(items)).tolist()  # type: ignore[no-any-return]

    # --- ours ------------------------------------------------------------------------------

    @property
    def client(self) -> MultimodalEmbeddingClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, items, images, tokens and estimated cost so far."""
        return self._client.usage

    # --- serialization: the key is a secret, never written ---------------------------------

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_modelstudio", "multimodal"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "DASHSCOPE_API_KEY"}
