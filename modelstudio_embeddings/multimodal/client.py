"""MultimodalEmbeddingClient: texts, images and videos in one vector space, on the same core
as the text and rerank clients (key and host, transports, executor, retries, errors, usage).

``embed`` checks every item before any request, plans requests within the model's items per
request, and runs them through the executor (threads, or the running loop for ``aembed``);
row i of the result is the vector of item i. ``embed_fused`` makes one vector of each group.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..core.budgets import FileBudget, LocalBudget, RayBudget
from ..core.errors import ConfigurationError
from ..core.governor import Governor, governor_for
from ..core.planning import Batch
from ..core.ratelimit import RateLimit, is_shared_host, region_of_host
from ..core.retry import RetryPolicy
from ..core.service import ServiceClient
from ..core.settings import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from ..core.usage import Usage
from ..core.vector_call import EmbedRequests
from ..core.vectors import EmbedOptions
from .calling import MultimodalCall, MultimodalRequests
from .items import Content, Image, Item
from .models import DEFAULT_MULTIMODAL_MODEL, MULTIMODAL_MODELS, MultimodalSpec
from .planning import check_groups, check_items, plan_requests
from .settings import MultimodalSettings
from .wire import MULTIMODAL_PROTOCOL

__all__ = ["MultimodalEmbeddingClient"]

Vectors = npt.NDArray[np.float32]


class MultimodalEmbeddingClient(ServiceClient[MultimodalSettings]):
    """Embeds texts, images and videos with one Model Studio multimodal model: ``embed`` (sync)
    and ``aembed`` (asyncio), one vector per item; ``embed_fused`` one vector per group.

    Items: a ``str`` is text (always); ``Image(...)``, a ``pathlib.Path``, ``bytes`` or a PIL
    image is an image (a path, bytes, an http(s) URL or a data URI); ``Video(url)`` a video.
    Local images are checked before any request (exist, readable, a format the model takes, not
    over its bytes per image) and read only when their request is built. An item the service
    refuses (moderation, a URL it cannot fetch) is isolated and named by a typed error whose
    ``partial`` holds every other vector.

    Args:
        model: ``qwen3-vl-embedding`` (default), ``tongyi-embedding-vision-plus``,
            ``tongyi-embedding-vision-flash`` or ``multimodal-embedding-v1``.
        dimensions: Output width; the model's default when None.
        api_key: The key; else ``DASHSCOPE_API_KEY``. Keys are per region.
        base_url: A host or any URL of the service; else ``DASHSCOPE_BASE_URL``, else Beijing.
        region: ``cn-beijing``, ``ap-southeast-1``, ... instead of ``base_url``.
        workspace_id: With ``region``: the workspace's own host.
        max_concurrency: Requests in flight at most, across every call of this client.
        max_retries: Re-sends of a request after a 429, 5xx, timeout or connection error.
        timeout: Seconds one request may take in all.
        retry_policy: Back-off and limits of retries (agreeing with ``max_retries``).
        adaptive_concurrency: Halve the in-flight bound on a 429, grow it back with time.
        allow_insecure_http: Allow plain ``http://`` to a host that is not loopback.
        rate_limit: The account's limits for the model (``RateLimit``); None: told by the
            host's quotas endpoint, else learned from the first 429s; False: no pacing by
            budget (the in-flight bound alone).
        rate_budget: ``LocalBudget()`` (default), ``FileBudget(path)`` or ``RayBudget(name)``:
            the processes that share the account's budget.
    """

    spec: MultimodalSpec

    def __init__(
        self,
        model: str = DEFAULT_MULTIMODAL_MODEL,
        *,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        adaptive_concurrency: bool = True,
        allow_insecure_http: bool = False,
        rate_limit: RateLimit | Literal[False] | None = None,
        rate_budget: LocalBudget | FileBudget | RayBudget | None = None,
    ) -> None:
        settings = MultimodalSettings(
            model=model,
            dimensions=dimensions,
            base_url=base_url,
            region=region,
            workspace_id=workspace_id,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            adaptive_concurrency=adaptive_concurrency,
            allow_insecure_http=allow_insecure_http,
            retry_policy=retry_policy,
            rate_limit=rate_limit,
            rate_budget=rate_budget,
        )
        self._connect(settings, api_key)

    def _connect(self, settings: MultimodalSettings, api_key: str | None) -> None:
        super()._connect(settings, api_key)
        region = region_of_host(self.host_url)
        if region is not None and is_shared_host(self.host_url) and region not in self.spec.regions:
            raise ConfigurationError(
                f"{self.spec.name} is not offered in {region}: the service's documentation "
                f"lists it in {', '.join(sorted(self.spec.regions))} only."
            )
        self._items_per_request = self.spec.items_per_request
        self._lock = threading.Lock()

    def _new_governor(self) -> Governor | None:
        settings = self.settings
        return governor_for(self._config, self.model, settings.rate_limit, settings.rate_budget)

    # --- settings, as attributes ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The host: the multimodal endpoint is native DashScope only."""
        return self.host_url

    @property
    def dimensions(self) -> int:
        """The output width in force."""
        return self.settings.width

    @property
    def items_per_request(self) -> int:
        """The item limit in force: the model table's, or a lower one the service announced."""
        return self._items_per_request

    @property
    def supports_fusion(self) -> bool:
        """Whether ``embed_fused`` is offered (``enable_fusion``: qwen3-vl-embedding)."""
        return self.spec.fusion

    @property
    def usage(self) -> Usage:
        """Requests, retries, items embedded (``rows``), images, billed tokens (image tokens
        where the service tells them) and their estimated cost at the model's prices."""
        usage = super().usage
        spec = self.spec
        return dataclasses.replace(
            usage,
            cost_cny=spec.cost_cny(usage.prompt_tokens, usage.image_tokens),
            cost_usd=spec.cost_usd(usage.prompt_tokens, usage.image_tokens) or 0.0,
        )

    # --- public ----------------------------------------------------------------------------

    def embed(self, items: Iterable[Item], *, deadline: float | None = None) -> Vectors:
        """One vector per item: an array ``(len(items), dimensions)``, row i for item i.
        ``deadline`` bounds the whole call in seconds."""
        call = self._new_call(check_items(items, self.spec), deadline)
        self._executor.run(call, self._workers(call))
        return call.result()

    async def aembed(self, items: Iterable[Item], *, deadline: float | None = None) -> Vectors:
        """The same as ``embed``, natively on asyncio; cancelling it cancels its requests."""
        call = self._new_call(check_items(items, self.spec), deadline)
        await self._executor.arun(call, self._workers(call))
        return call.result()

    def embed_texts(self, texts: Sequence[str], *, deadline: float | None = None) -> Vectors:
        """``embed`` of texts (queries for image search, captions)."""
        return self.embed(list(texts), deadline=deadline)

    def embed_images(self, images: Iterable[Any], *, deadline: float | None = None) -> Vectors:
        """``embed`` of images: each a path (``str`` or ``Path``), bytes, URL, data URI or PIL
        image; a ``str`` here is an image's path or URL, not text."""
        return self.embed((_as_image(image) for image in images), deadline=deadline)

    async def aembed_texts(self, texts: Sequence[str], *, deadline: float | None = None) -> Vectors:
        """``embed_texts`` natively on asyncio."""
        return await self.aembed(list(texts), deadline=deadline)

    async def aembed_images(
        self, images: Iterable[Any], *, deadline: float | None = None
    ) -> Vectors:
        """``embed_images`` natively on asyncio."""
        return await self.aembed((_as_image(image) for image in images), deadline=deadline)

    def embed_fused(
        self, groups: Iterable[Sequence[Item]], *, deadline: float | None = None
    ) -> Vectors:
        """One vector per group of items (e.g. a product's image and its description), fused
        by the service (``enable_fusion``); one request a group. Only models that fuse."""
        call = self._new_fused_call(groups, deadline)
        self._executor.run(call, self._workers(call))
        return call.result()

    async def aembed_fused(
        self, groups: Iterable[Sequence[Item]], *, deadline: float | None = None
    ) -> Vectors:
        """The same as ``embed_fused``, natively on asyncio."""
        call = self._new_fused_call(groups, deadline)
        await self._executor.arun(call, self._workers(call))
        return call.result()

    def __repr__(self) -> str:
        return (
            f"MultimodalEmbeddingClient(model={self.model!r}, dimensions={self.dimensions}, "
            f"base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"
        )

    # --- planning ------------------------------------------------------------------------------

    def _new_fused_call(
        self, groups: Iterable[Sequence[Item]], deadline: float | None
    ) -> MultimodalCall:
        if not self.spec.fusion:
            fusing = ", ".join(sorted(n for n, s in MULTIMODAL_MODELS.items() if s.fusion))
            raise ConfigurationError(
                f"{self.model} does not fuse items into one vector through this client; "
                f"{fusing} does (enable_fusion). Use embed() for one vector per item."
            )
        checked = check_groups(groups, self.spec)
        batches = [Batch(i, i + 1) for i in range(len(checked))]
        return self._call(checked, batches, deadline, fusion=True)

    def _new_call(self, contents: list[Content], deadline: float | None) -> MultimodalCall:
        batches = plan_requests(
            [content.size for content in contents],
            items_per_request=self._items_per_request,
            bytes_per_request=self.spec.bytes_per_request,
        )
        return self._call(contents, batches, deadline, fusion=False)

    def _call(
        self,
        rows: Sequence[Content] | Sequence[Sequence[Content]],
        batches: list[Batch],
        deadline: float | None,
        *,
        fusion: bool,
    ) -> MultimodalCall:
        secret = self._config.api_key
        dimension = self.dimensions if self.spec.sends_dimension else None
        requests = EmbedRequests(
            protocol=MULTIMODAL_PROTOCOL,
            model=self.model,
            dimensions=dimension,
            options=EmbedOptions(),
            base_url=self.base_url,
            redact=lambda text: text.replace(secret, "<redacted>"),
        )
        return MultimodalCall(
            rows,
            self.dimensions,
            build=MultimodalRequests(self.model, dimension, fusion),
            batches=batches,
            requests=requests,
            rows_per_request=(lambda: 1) if fusion else (lambda: self._items_per_request),
            learn_rows_per_request=self._learn_items_per_request,
            retry=self.retry_policy,
            usage=self._usage,
            deadline=None if deadline is None else time.monotonic() + deadline,
            timeout=self.timeout,
        )

    def _workers(self, call: MultimodalCall) -> int:
        return min(self.max_concurrency, call.batches_pending)

    def _learn_items_per_request(self, limit: int) -> None:
        with self._lock:
            self._items_per_request = max(1, min(self._items_per_request, limit))


def _as_image(image: Any) -> Any:
    """An item of ``embed_images``: a ``str`` is a path or URL here, never text."""
    return Image(image) if isinstance(image, str) else image
