"""LangChain ``Embeddings`` over the core caller: no batching, retry or error logic of its own."""

from __future__ import annotations

import warnings
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from langchain_core.utils import secret_from_env
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from langchain_modelstudio._keyless import KeylessPickling
from modelstudio_embeddings import (
    DEFAULT_MODEL,
    ConfigurationError,
    EmbeddingClient,
    FileBudget,
    LocalBudget,
    RateLimit,
    RayBudget,
    RetryPolicy,
    Usage,
)
from modelstudio_embeddings.adapting import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    build_client,
    configured,
)

__all__ = ["ModelStudioEmbeddings"]

RENAMED: dict[str, str] = {"dashscope_api_key": "api_key"}
"""Keywords of langchain-community's ``DashScopeEmbeddings`` this class has under another name:
accepted, with a DeprecationWarning naming ours, so moving over is a one-line change."""


def accept_renamed(owner: str, data: dict[str, Any]) -> None:
    """Move each old keyword of ``data`` to its new name, warning once per keyword; a
    ConfigurationError (never showing the values: one is the key) if both names are given."""
    for old, new in RENAMED.items():
        if old not in data:
            continue
        value = data.pop(old)
        warnings.warn(
            f"{old}= is DashScopeEmbeddings' name for {owner}'s {new}=; pass {new}= instead "
            f"({old}= will be removed).",
            DeprecationWarning,
            stacklevel=3,
        )
        if new in data:
            raise ConfigurationError(f"{owner}: {old}= and {new}= both given; pass {new}= only.")
        if value is not None:  # None: as if not given, so DASHSCOPE_API_KEY applies
            data[new] = value


class ModelStudioEmbeddings(KeylessPickling, Serializable, Embeddings):
    """Alibaba Cloud Model Studio text embeddings (text-embedding-v1 to v4) for LangChain.

    Any number of texts per call: the core splits them into requests within the model's limits
    and runs up to ``max_concurrency`` at once across all calls, sync and async. Failures raise
    the typed errors of ``modelstudio_embeddings``; a call never returns a short list.

    Moving from langchain-community's ``DashScopeEmbeddings``: ``model`` and ``max_retries``
    keep their names; ``dashscope_api_key=`` is accepted as ``api_key`` with a
    DeprecationWarning.

    Cache vectors with ``CacheBackedEmbeddings.from_bytes_store(emb, store,
    namespace=emb.cache_namespace)``: the namespace names the model and dimensions, so vectors
    of different widths never mix in one cache.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    model: str = Field(default=DEFAULT_MODEL, description="text-embedding-v1, -v2, -v3 or -v4.")
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("DASHSCOPE_API_KEY", default=None),
        description="Defaults to DASHSCOPE_API_KEY; never serialized or pickled.",
    )
    base_url: str | None = Field(default=None, description="Host or compatible-mode URL.")
    region: str | None = Field(default=None, description="cn-beijing, ap-southeast-1, ...")
    workspace_id: str | None = None
    dimensions: int | None = Field(default=None, description="Output width; model default.")
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    show_progress: bool = Field(default=False, description="A per-row bar for documents.")
    protocol: str = Field(default="compatible", description="'compatible' or 'native'.")
    on_too_long: str = Field(default="error", description="'error' or 'truncate'.")
    adaptive_concurrency: bool = Field(default=True, description="Halve in flight on a 429.")
    tokenizer: str = Field(default="auto", description="'auto', 'qwen' or 'estimate'.")
    allow_insecure_http: bool = Field(default=False, description="Plain http to your own host.")
    rate_limit: RateLimit | Literal[False] | None = Field(
        default=None,
        description="The account's RPM/TPM; None: told by the host, published, else learned "
        "from 429s; False: no pacing.",
    )
    rate_budget: LocalBudget | FileBudget | RayBudget | None = Field(
        default=None, description="Where the budget lives: this process, a file or a Ray actor."
    )
    query_instruction: str | None = Field(
        default=None, description="v4 task instruction sent with queries (native protocol)."
    )
    retry_policy: RetryPolicy | None = Field(default=None, exclude=True, repr=False)

    _client: EmbeddingClient = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        # DashScopeEmbeddings' dashscope_api_key= is accepted (with a DeprecationWarning).
        accept_renamed(type(self).__name__, data)
        # Every mistake is a ConfigurationError that never shows the values (the key is one).
        configured(type(self).__name__, lambda: super(ModelStudioEmbeddings, self).__init__(**data))

    @model_validator(mode="after")
    def _build_client(self) -> ModelStudioEmbeddings:
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        self._client = build_client(self.model, key, self.__dict__)
        return self

    # --- LangChain's interface ------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, as Python floats."""
        return self._client.embed_lists(texts, **self._kind("document"))

    def embed_query(self, text: str) -> list[float]:
        """The vector of one search query (sent as a query where the protocol allows)."""
        return self._client.embed_lists([text], **self._kind("query"))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """``embed_documents`` natively on asyncio."""
        return await self._client.aembed_lists(texts, **self._kind("document"))

    async def aembed_query(self, text: str) -> list[float]:
        """``embed_query`` natively on asyncio."""
        return (await self._client.aembed_lists([text], **self._kind("query")))[0]

    # --- ours ------------------------------------------------------------------------------

    @property
    def client(self) -> EmbeddingClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, tokens and estimated cost so far."""
        return self._client.usage

    @property
    def cache_namespace(self) -> str:
        """A cache namespace naming model and width: ``modelstudio.text-embedding-v4.1024``
        (letters, digits, ``.`` and ``-`` only: every LangChain byte store takes it as a key,
        ``LocalFileStore`` included)."""
        return f"modelstudio.{self._client.model}.{self._client.dimensions}"

    def _kind(self, text_type: str) -> dict[str, Any]:
        options = self._client.options_for(text_type, self.query_instruction)
        if text_type == "query":  # one row: a progress bar would only flicker
            options["show_progress"] = False
        return options

    # --- serialization: the key is a secret, never written ---------------------------------

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_modelstudio", "embeddings"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "DASHSCOPE_API_KEY"}
