"""What every client of the service shares (embeddings, rerank, and later the Batch API):
resolving the key and host, the transports and the executor with its in-flight bound, usage,
and the lifecycle (close, context managers, pickling without the key)."""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Generic, Literal, Protocol, TypeVar

from typing_extensions import Self

from .config import ResolvedConfig, resolve_config
from .errors import ConfigurationError
from .executor import Executor
from .governor import FileBudget, Governor, LocalBudget, RayBudget
from .limiter import ConcurrencyLimiter
from .quotas import fetch_quotas
from .ratelimit import RateLimit, published_limit
from .retry import RetryPolicy
from .tokens import LazyCounter
from .transport import AsyncTransport, SyncTransport
from .usage import Usage, UsageCounter

__all__ = ["ServiceClient", "ServiceSettings"]


class ServiceSettings(Protocol):
    """The settings every client has (``ClientSettings``, ``RerankSettings``)."""

    @property
    def base_url(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def workspace_id(self) -> str | None: ...
    @property
    def allow_insecure_http(self) -> bool: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def initial_concurrency(self) -> int: ...
    @property
    def adaptive_concurrency(self) -> bool: ...
    @property
    def timeout(self) -> float: ...
    @property
    def tokenizer(self) -> str: ...
    @property
    def on_too_long(self) -> str: ...
    @property
    def retry(self) -> RetryPolicy: ...


S = TypeVar("S", bound=ServiceSettings)


class ServiceClient(Generic[S]):
    """The shared half of a client; a subclass sets ``spec`` and says where its requests go
    (``base_url``) and whether the account's budget paces them (``_new_governor``)."""

    settings: S
    spec: Any
    _config: ResolvedConfig

    @classmethod
    def from_settings(cls, settings: S, api_key: str | None = None) -> Self:
        """A client from a settings value (the adapters' way); the key as in ``__init__``."""
        client = cls.__new__(cls)
        client._connect(settings, api_key)
        return client

    def _connect(self, settings: S, api_key: str | None) -> None:
        self.settings = settings
        self.spec = self._spec_of(settings)
        self._config = resolve_config(
            api_key=api_key,
            base_url=settings.base_url,
            region=settings.region,
            workspace_id=settings.workspace_id,
            allow_insecure_http=settings.allow_insecure_http,
        )
        self._tokens = LazyCounter(settings.tokenizer)
        self._usage = UsageCounter(self.spec)
        transport: dict[str, Any] = {
            "model": self.spec.name,
            "timeout": settings.timeout,
            "slots": settings.max_concurrency,
        }
        self._executor = Executor(
            SyncTransport(self._config, self.base_url, **transport),
            AsyncTransport(self._config, self.base_url, **transport),
            self._usage,
            (self._new_limiter(), self._new_limiter()),
            self._new_governor(),
        )

    def _spec_of(self, settings: S) -> Any:
        return getattr(settings, "spec")  # noqa: B009  (a property of every settings type)

    def _new_limiter(self) -> ConcurrencyLimiter:
        settings = self.settings
        return ConcurrencyLimiter(
            settings.max_concurrency,
            initial=settings.initial_concurrency,
            adaptive=settings.adaptive_concurrency,
        )

    def _new_governor(self) -> Governor | None:
        return None

    def _account_governor(
        self,
        rate_limit: RateLimit | Literal[False] | None,
        rate_budget: LocalBudget | FileBudget | RayBudget | None,
    ) -> Governor | None:
        """The account's budget for this model, on any host (a subclass's ``_new_governor``):
        the limits told, else those the host's quotas endpoint tells (asked once, before the
        first request), else those published for the service's own host; what is still
        unknown is learned from the first 429s. ``rate_limit=False``: no budget, the
        in-flight bound alone."""
        if rate_limit is False:
            return None
        published = published_limit(self.host_url, self.model)
        limit = rate_limit or (published.limit if published else RateLimit())
        group = published.group if published else f"{self.host_url}:{self.model}"
        backend = (rate_budget or LocalBudget()).open()
        discover = None
        if limit.learns:
            config = self._config
            discover = functools.partial(fetch_quotas, config.host_url, config.api_key, self.model)
        return Governor(backend, group, limit, discover=discover)

    # --- settings, as attributes ---------------------------------------------------------------

    @property
    def model(self) -> str:
        name: str = self.spec.name
        return name

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    @property
    def host_url(self) -> str:
        """Scheme and host of the service, e.g. ``https://dashscope.aliyuncs.com``."""
        return self._config.host_url

    @property
    def max_concurrency(self) -> int:
        return self.settings.max_concurrency

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    @property
    def on_too_long(self) -> str:
        return self.settings.on_too_long

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.settings.retry

    @property
    def usage(self) -> Usage:
        """What this client has done so far (requests, retries, rows, tokens, estimated
        cost), and the limits it paces at where it is paced (learned ones included)."""
        usage = self._usage.snapshot()
        governor = self._executor.governor
        if governor is None:
            return usage
        return dataclasses.replace(
            usage, paced_limits=governor.paced_limits(), learning_since=governor.learning_since
        )

    @property
    def rate_limit(self) -> RateLimit | None:
        """The limits the client paces by (fields None are being learned); None: not paced
        by the account's budget, only by ``max_concurrency`` (``rate_limit=False``)."""
        governor = self._executor.governor
        return None if governor is None else governor.limit

    @property
    def peak_in_flight(self) -> int:
        """The most requests this client has had in flight at once."""
        return self._executor.limiter.peak_in_flight

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the worker threads and the sync HTTP connections."""
        self._executor.sync.close()

    async def aclose(self) -> None:
        """Release the HTTP connections of the running loop's async client, and ``close``."""
        await self._executor.async_.aclose()
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, "
            f"max_concurrency={self.max_concurrency})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The key is never pickled: the copy reads DASHSCOPE_API_KEY where it is unpickled.
        return (_unpickle, (type(self), self.settings))


def _unpickle(cls: type[ServiceClient[Any]], settings: Any) -> ServiceClient[Any]:
    if not os.environ.get("DASHSCOPE_API_KEY"):
        raise ConfigurationError(
            f"An unpickled {cls.__name__} reads its key from DASHSCOPE_API_KEY (keys are never "
            "pickled); set it before unpickling."
        )
    return cls.from_settings(settings)
