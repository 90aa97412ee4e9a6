"""EmbeddingClient: the public face of the core. It validates and plans each call, and leaves
carrying it out to the executor (threads or asyncio) and the transports (HTTP).

``embed`` runs a call's requests on worker threads, ``aembed`` on the running event loop
with an ``AsyncOpenAI`` client; both share one in-flight bound, one retry layer (the call's
state machine) and one usage count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..core.budgets import FileBudget, LocalBudget, RayBudget
from ..core.errors import ConfigurationError
from ..core.governor import Governor, governor_for
from ..core.limiter import ConcurrencyLimiter
from ..core.progress import progress_bar
from ..core.ratelimit import RateLimit, is_shared_host, region_of_host
from ..core.retry import RetryPolicy
from ..core.service import ServiceClient
from ..core.settings import (
    DEFAULT_INITIAL_CONCURRENCY,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
)
from ..core.vector_call import Call
from .models import DEFAULT_MODEL, ModelSpec
from .planner import CallPlanner
from .settings import ClientSettings
from .wire import EmbedOptions, SparseEmbedding

__all__ = [
    "DEFAULT_INITIAL_CONCURRENCY",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "EmbeddingClient",
]


class EmbeddingClient(ServiceClient[ClientSettings]):
    """Embeds texts with one Model Studio model: ``embed`` (sync) and ``aembed`` (asyncio).

    Row i of the result is the vector of text i. Requests respect the model's row and token
    limits, run up to ``max_concurrency`` at once across every call on this client, and are
    retried (alone) only for 429, 5xx, timeouts and connection errors. The key comes from
    ``api_key`` or ``DASHSCOPE_API_KEY`` and is never pickled, printed or logged; every other
    setting is described in ``ClientSettings``.

    Args:
        model: ``text-embedding-v1`` to ``-v4`` (default v4).
        dimensions: Output width; the model's default when None.
        api_key: The key; else ``DASHSCOPE_API_KEY``. Keys are per region.
        base_url: A host or any URL of the service; else ``DASHSCOPE_BASE_URL``, else Beijing.
        region: ``cn-beijing``, ``ap-southeast-1``, ... instead of ``base_url``.
        workspace_id: With ``region``: the workspace's own host.
        max_concurrency: Requests in flight at most, across every call of this client.
        max_retries: Re-sends of a request after a 429, 5xx, timeout or connection error.
        timeout: Seconds one request may take in all.
        show_progress: A per-row progress bar for every call.
        adaptive_concurrency: Halve the in-flight bound on a 429, grow it back with time.
        allow_insecure_http: Allow plain ``http://`` to a host that is not loopback.
        retry_policy: Back-off and limits of retries (agreeing with ``max_retries``).
        protocol: ``compatible`` or ``native`` (text_type, instruct, sparse vectors).
        on_too_long: ``error`` or ``truncate`` rows over the model's token limit.
        tokenizer: ``auto``, ``qwen`` or ``estimate`` token counts for that limit.
        rate_limit: The account's limits (``RateLimit``); None: told by the host's quotas
            endpoint, else published for the service's own hosts, else learned from 429s on
            any host; False: no pacing by budget (the in-flight bound alone).
        rate_budget: ``LocalBudget()`` (default), ``FileBudget(path)``, shared by every
            process of the machine naming the file, or ``RayBudget(name)``, shared by every
            process of a Ray cluster naming the actor (the ``ray`` extra).
    """

    spec: ModelSpec

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        show_progress: bool = False,
        adaptive_concurrency: bool = True,
        allow_insecure_http: bool = False,
        retry_policy: RetryPolicy | None = None,
        protocol: str = "compatible",
        on_too_long: str = "error",
        tokenizer: str = "auto",
        rate_limit: RateLimit | Literal[False] | None = None,
        rate_budget: LocalBudget | FileBudget | RayBudget | None = None,
    ) -> None:
        settings = ClientSettings(
            model=model,
            dimensions=dimensions,
            base_url=base_url,
            region=region,
            workspace_id=workspace_id,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            show_progress=show_progress,
            adaptive_concurrency=adaptive_concurrency,
            allow_insecure_http=allow_insecure_http,
            retry_policy=retry_policy,
            protocol=protocol,
            on_too_long=on_too_long,
            tokenizer=tokenizer,
            rate_limit=rate_limit,
            rate_budget=rate_budget,
        )
        self._connect(settings, api_key)

    def _connect(self, settings: ClientSettings, api_key: str | None) -> None:
        super()._connect(settings, api_key)
        # A model or width the host's region does not offer: refused before any request.
        host = self._config.host_url
        self.spec.check_region(
            region_of_host(host), settings.width, shared_host=is_shared_host(host)
        )
        self._planner = CallPlanner(
            settings,
            base_url=self.base_url,
            api_key=self._config.api_key,
            tokens=self._tokens,
            usage=self._usage,
        )

    def _new_governor(self) -> Governor | None:
        """The account's budget for this model (``governor_for``)."""
        settings = self.settings
        return governor_for(self._config, self.model, settings.rate_limit, settings.rate_budget)

    # --- settings, as attributes ---------------------------------------------------------------

    @property
    def dimensions(self) -> int:
        """The output width in force."""
        return self.settings.width

    @property
    def protocol(self) -> str:
        return self.settings.protocol

    @property
    def show_progress(self) -> bool:
        return self.settings.show_progress

    @property
    def _settings(self) -> dict[str, Any]:
        return self.settings.as_dict()

    @property
    def _limiter(self) -> ConcurrencyLimiter:
        return self._executor.limiter

    # --- public ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The compatible-mode base URL (the host, for the native protocol)."""
        return self._config.compatible_url if self.protocol == "compatible" else self.host_url

    @property
    def rows_per_request(self) -> int:
        """The row limit in force: the model table's, or a lower one the service announced."""
        return self._planner.rows_per_request

    @property
    def accepts_text_type(self) -> bool:
        """Whether ``text_type`` may be sent: the native protocol with v3 or v4."""
        return self.protocol == "native" and self.spec.text_types

    @property
    def accepts_instruct(self) -> bool:
        """Whether ``instruct`` may be sent: the native protocol with v4."""
        return self.protocol == "native" and self.spec.instruct

    @property
    def accepts_sparse(self) -> bool:
        """Whether sparse vectors can be asked for: the native protocol with v3 or v4."""
        return self.protocol == "native" and self.spec.sparse

    def options_for(self, text_type: str, instruct: str | None = None) -> dict[str, Any]:
        """``text_type`` (and ``instruct`` for queries) where this protocol and model take them,
        else nothing: what the adapters send on their query and document paths."""
        if not self.accepts_text_type:
            return {}
        options: dict[str, Any] = {"text_type": text_type}
        if text_type == "query" and instruct and self.accepts_instruct:
            options["instruct"] = instruct
        return options

    def embed(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed ``texts``; an array of shape ``(len(texts), dimensions)``, row i for text i.

        ``text_type`` ("query" or "document") and ``instruct`` need the native protocol.
        ``deadline`` bounds the whole call in seconds; ``progress`` is called with the number
        of rows each finished request embedded.
        """
        options = self._options(text_type, instruct, "dense")
        return self._run(texts, options, show_progress, progress, deadline).result()

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> npt.NDArray[np.float32]:
        """The same as ``embed``, natively on asyncio; cancelling it cancels its requests."""
        options = self._options(text_type, instruct, "dense")
        call = await self._arun(texts, options, show_progress, progress, deadline)
        return call.result()

    def embed_lists(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> list[list[float]]:
        """``embed`` as Python floats, for frameworks that want lists. Each request's rows are
        converted as it lands, while later requests are still in flight, not all at the end."""
        options = self._options(text_type, instruct, "dense")
        call = self._run(texts, options, show_progress, progress, deadline, lists=True)
        return call.result_lists()

    async def aembed_lists(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> list[list[float]]:
        """The same as ``embed_lists``, natively on asyncio."""
        options = self._options(text_type, instruct, "dense")
        call = await self._arun(texts, options, show_progress, progress, deadline, lists=True)
        return call.result_lists()

    def embed_sparse(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> list[SparseEmbedding]:
        """Sparse vectors only (native protocol, v3/v4), one per text, for keyword-aware search."""
        options = self._options(text_type, instruct, "sparse")
        return _sparse_rows(self._run(texts, options, show_progress, None, None))

    async def aembed_sparse(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> list[SparseEmbedding]:
        """The same as ``embed_sparse``, natively on asyncio."""
        options = self._options(text_type, instruct, "sparse")
        return _sparse_rows(await self._arun(texts, options, show_progress, None, None))

    def embed_hybrid(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[SparseEmbedding]]:
        """Dense and sparse vectors from one request per batch (``output_type="dense&sparse"``)."""
        options = self._options(text_type, instruct, "dense&sparse")
        call = self._run(texts, options, show_progress, None, None)
        return call.result(), _sparse_rows(call)

    async def aembed_hybrid(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[SparseEmbedding]]:
        """The same as ``embed_hybrid``, natively on asyncio."""
        options = self._options(text_type, instruct, "dense&sparse")
        call = await self._arun(texts, options, show_progress, None, None)
        return call.result(), _sparse_rows(call)

    def _run(
        self,
        texts: Sequence[str],
        options: EmbedOptions,
        show_progress: bool | None,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        *,
        lists: bool = False,
    ) -> Call:
        """Carry out one call on worker threads; the finished Call (result not yet checked)."""
        with self._planned(texts, options, show_progress, progress, deadline, lists) as planned:
            self._executor.run(*planned)
        return planned[0]

    async def _arun(
        self,
        texts: Sequence[str],
        options: EmbedOptions,
        show_progress: bool | None,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        *,
        lists: bool = False,
    ) -> Call:
        """Carry out one call on the running loop; cancelling it cancels its requests."""
        with self._planned(texts, options, show_progress, progress, deadline, lists) as planned:
            await self._executor.arun(*planned)
        return planned[0]

    @contextmanager
    def _planned(
        self,
        texts: Sequence[str],
        options: EmbedOptions,
        show_progress: bool | None,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        lists: bool,
    ) -> Iterator[tuple[Call, int]]:
        """A validated, planned call with its progress bar, and how many workers it needs."""
        rows = self._planner.prepare(texts)
        with progress_bar(self._wants_progress(show_progress), len(rows)) as bar:
            call = self._planner.new_call(rows, options, _chain(bar, progress), deadline, lists)
            yield call, min(self.max_concurrency, call.batches_pending)

    def __repr__(self) -> str:
        return (
            f"EmbeddingClient(model={self.model!r}, dimensions={self.dimensions}, "
            f"base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"
        )

    def _wants_progress(self, show_progress: bool | None) -> bool:
        return self.show_progress if show_progress is None else show_progress

    def _options(self, text_type: str | None, instruct: str | None, output: str) -> EmbedOptions:
        return self._planner.options(text_type, instruct, output)


def _chain(
    first: Callable[[int], None] | None, second: Callable[[int], None] | None
) -> Callable[[int], None] | None:
    if first is None or second is None:
        return first or second

    def both(rows: int) -> None:
        first(rows)
        second(rows)

    return both


def _unpickle_client(settings: dict[str, Any]) -> EmbeddingClient:
    """What pickles of an earlier version call: settings as a dict, the key from the
    environment."""
    if not os.environ.get("DASHSCOPE_API_KEY"):
        raise ConfigurationError(
            "An unpickled EmbeddingClient reads its key from DASHSCOPE_API_KEY (keys are never "
            "pickled); set it before unpickling."
        )
    return EmbeddingClient.from_settings(ClientSettings(**settings))


def _sparse_rows(call: Call) -> list[SparseEmbedding]:
    call.result()  # raises if any row failed
    assert call.sparse is not None
    return [row for row in call.sparse if row is not None]
