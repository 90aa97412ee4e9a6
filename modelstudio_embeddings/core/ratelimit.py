"""The account's rate limits: what a user tells the client (``RateLimit``), and what the service
publishes per model and region, used where the host is the service's own.

Model Studio limits each model per root account, shared by every key, workspace and process of
that account, and enforces them per second (RPM/60, TPM/60). In Beijing text-embedding-v1 to
v4 share one row of the limits table; the client keeps one budget per such group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "PUBLISHED_LIMITS",
    "RateLimit",
    "is_shared_host",
    "published_limit",
    "region_of_host",
]


@dataclass(frozen=True)
class RateLimit:
    """The account's limits for one model: requests and tokens per minute.

    A field left None is learned from the service's 429s (the client then paces at the rate
    that drew the last one, and probes upwards after a quiet spell). ``RateLimit()`` learns both.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError(f"RateLimit.{name} must be a positive number or None.")

    @property
    def learns(self) -> bool:
        """Whether any limit is left to learn."""
        return self.requests_per_minute is None or self.tokens_per_minute is None


@dataclass(frozen=True)
class PublishedLimit:
    """A row of the service's limits table: the limits and the group of models sharing them."""

    group: str
    limit: RateLimit


_BEIJING_EMBEDDINGS = PublishedLimit("cn-beijing:text-embedding", RateLimit(1800, 1_200_000))

PUBLISHED_LIMITS: Mapping[tuple[str, str], PublishedLimit] = MappingProxyType(
    {
        ("cn-beijing", "text-embedding-v1"): _BEIJING_EMBEDDINGS,
        ("cn-beijing", "text-embedding-v2"): _BEIJING_EMBEDDINGS,
        ("cn-beijing", "text-embedding-v3"): _BEIJING_EMBEDDINGS,
        ("cn-beijing", "text-embedding-v4"): _BEIJING_EMBEDDINGS,
        ("ap-southeast-1", "text-embedding-v3"): PublishedLimit(
            "ap-southeast-1:text-embedding-v3", RateLimit(6000, 24_000_000)
        ),
        # Singapore v4: not published; learned.
    }
)
"""(region, model) -> the published limits, from the service contract's rate limits table."""

_SHARED_HOSTS = {
    "dashscope.aliyuncs.com": "cn-beijing",
    "dashscope-intl.aliyuncs.com": "ap-southeast-1",
    "dashscope-us.aliyuncs.com": "us-east-1",
    "cn-hongkong.dashscope.aliyuncs.com": "cn-hongkong",
}


def region_of_host(host_url: str) -> str | None:
    """The region of one of the service's own hosts (shared or workspace), else None: limits
    are only assumed for the service itself, never for a proxy or the emulator."""
    host = (urlsplit(host_url).hostname or "").lower()
    if host in _SHARED_HOSTS:
        return _SHARED_HOSTS[host]
    parts = host.split(".")
    if len(parts) == 5 and parts[2:] == ["maas", "aliyuncs", "com"]:
        return parts[1]  # {workspace}.{region}.maas.aliyuncs.com
    return None


def is_shared_host(host_url: str) -> bool:
    """True for a region's shared host (not a workspace host, a gateway or the emulator)."""
    return (urlsplit(host_url).hostname or "").lower() in _SHARED_HOSTS


def published_limit(host_url: str, model: str) -> PublishedLimit | None:
    """The published limits of ``model`` at this host's region, if the service publishes them."""
    region = region_of_host(host_url)
    return None if region is None else PUBLISHED_LIMITS.get((region, model))
