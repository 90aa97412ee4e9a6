"""Key, host, region and workspace resolution: normalised once, at construction, into plain values.

Order: explicit argument, then the environment (``DASHSCOPE_API_KEY``, ``DASHSCOPE_BASE_URL``,
then ``DASHSCOPE_API_BASE``), then the Beijing default. The key is only ever paired with a host
the user named or chose (by argument, environment or region), never with a guessed one.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "COMPATIBLE_PATH",
    "NATIVE_PATH",
    "REGIONS",
    "Region",
    "ResolvedConfig",
    "normalize_host_url",
    "resolve_config",
]

COMPATIBLE_PATH = "/compatible-mode/v1"
NATIVE_PATH = "/api/v1"
RERANK_COMPATIBLE_PATH = "/compatible-api/v1"
"""Rerank's OpenAI-compatible base (``compatible-api``, not the embeddings' ``compatible-mode``)."""
ENV_API_KEY = "DASHSCOPE_API_KEY"
ENV_BASE_URLS = ("DASHSCOPE_BASE_URL", "DASHSCOPE_API_BASE")
DEFAULT_REGION = "cn-beijing"


@dataclass(frozen=True)
class Region:
    """One Model Studio region: its shared host, and whether it offers workspace hosts."""

    id: str
    name: str
    shared_host: str | None
    workspace_hosts: bool = True

    def host(self, workspace_id: str | None) -> str:
        if workspace_id:
            if not self.workspace_hosts:
                raise ConfigurationError(
                    f"Region {self.id!r} ({self.name}) offers no workspace hosts; "
                    "drop workspace_id or choose another region."
                )
            return f"{workspace_id}.{self.id}.maas.aliyuncs.com"
        if self.shared_host is None:
            raise ConfigurationError(
                f"Region {self.id!r} ({self.name}) has no shared host: pass workspace_id= "
                f"to use {{WorkspaceId}}.{self.id}.maas.aliyuncs.com."
            )
        return self.shared_host


REGIONS: Mapping[str, Region] = MappingProxyType(
    {
        r.id: r
        for r in (
            Region("cn-beijing", "China (Beijing)", "dashscope.aliyuncs.com"),
            Region("ap-southeast-1", "Singapore", "dashscope-intl.aliyuncs.com"),
            Region(
                "us-east-1", "US (Virginia)", "dashscope-us.aliyuncs.com", workspace_hosts=False
            ),
            Region("cn-hongkong", "China (Hong Kong)", "cn-hongkong.dashscope.aliyuncs.com"),
            Region("ap-northeast-1", "Japan (Tokyo)", None),
            Region("eu-central-1", "Germany (Frankfurt)", None),
        )
    }
)


@dataclass(frozen=True)
class ResolvedConfig:
    """Where requests go and with which key, after every default has been applied."""

    api_key: str = field(repr=False)
    host_url: str
    """Scheme and host, e.g. ``https://dashscope.aliyuncs.com``."""
    base_url_source: str
    """Where the host came from: ``argument``, ``region``, an environment variable, ``default``."""

    @property
    def compatible_url(self) -> str:
        return self.host_url + COMPATIBLE_PATH

    @property
    def native_url(self) -> str:
        return self.host_url + NATIVE_PATH


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 or ::1."""
    hostname = host.rsplit("@", 1)[-1]
    if hostname.startswith("["):
        hostname = hostname[1 : hostname.find("]")]
    elif hostname.count(":") == 1:
        hostname = hostname.split(":", 1)[0]
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def normalize_host_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """``scheme://host[:port]`` from a bare host or any URL of the service, trailing parts dropped.

    Accepts ``dashscope.aliyuncs.com``, ``https://dashscope.aliyuncs.com/``,
    ``.../compatible-mode/v1``, ``.../compatible-api/v1`` (rerank) and ``.../api/v1``. Plain
    ``http://`` is refused for any host but loopback unless ``allow_insecure_http`` is set,
    because the key travels in a header.
    """
    text = url.strip()
    if not text:
        raise ConfigurationError("base_url is empty.")
    if "://" not in text and _SCHEME_TYPO.match(text):
        raise ConfigurationError(
            f"base_url {url!r} has a malformed scheme; write it as "
            "https://dashscope.aliyuncs.com (or just the host name)."
        )
    if "://" not in text:
        bare_host = text.split("/", 1)[0]
        text = ("http://" if is_loopback(bare_host) else "https://") + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigurationError(f"base_url {url!r} is not an http(s) URL or host name.")
    if parts.username or parts.password:
        raise ConfigurationError("base_url must not carry credentials; pass api_key instead.")
    if not _HOST.match(parts.netloc) or "//" in parts.path:
        raise ConfigurationError(
            f"base_url {url!r} is not a valid URL (host {parts.netloc!r}, path "
            f"{parts.path!r}); write it as https://dashscope.aliyuncs.com or "
            "https://dashscope.aliyuncs.com/compatible-mode/v1."
        )
    path = parts.path.rstrip("/")
    for suffix in _KNOWN_PATHS:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if parts.scheme == "http" and not is_loopback(parts.netloc) and not allow_insecure_http:
        raise ConfigurationError(
            f"Refusing plain http:// to {parts.netloc}: the API key would travel unencrypted. "
            "Use https://, or pass allow_insecure_http=True if this host is yours."
        )
    return f"{parts.scheme}://{parts.netloc}{path}"


_SCHEME_TYPO = re.compile(r"^(https?)?:?/+|^https?[:/]|^[a-z]+:/(?!/)", re.IGNORECASE)
# A host name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(
    r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$"
)
_KNOWN_PATHS = (
    COMPATIBLE_PATH + "/embeddings",
    COMPATIBLE_PATH,
    RERANK_COMPATIBLE_PATH + "/reranks",
    RERANK_COMPATIBLE_PATH,
    NATIVE_PATH + "/services/embeddings/text-embedding/text-embedding",
    NATIVE_PATH + "/services/rerank/text-rerank/text-rerank",
    NATIVE_PATH + "/services/embeddings/multimodal-embedding/multimodal-embedding",
    NATIVE_PATH,
)


def check_api_key(key: str) -> str:
    """The key, stripped; a ConfigurationError (which never shows it) for a key that cannot
    travel in an HTTP header: whitespace or a line break inside, or a non-ASCII character."""
    key = key.strip()
    bad = next((i for i, c in enumerate(key) if not "!" <= c <= "~"), None)
    if bad is not None:
        kind = (
            "whitespace or a line break" if key[bad].isspace() else "a character that is not ASCII"
        )
        raise ConfigurationError(
            f"The API key holds {kind} at position {bad} of {len(key)}: keys are printable "
            "ASCII (sk-...). Copy it again from the Model Studio console."
        )
    return key


def resolve_config(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    workspace_id: str | None = None,
    allow_insecure_http: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    """Apply the order argument > environment > Beijing default to the key and the host."""
    env = os.environ if environ is None else environ
    key = api_key if api_key is not None else env.get(ENV_API_KEY)
    if not key or not key.strip():
        raise ConfigurationError(
            f"No API key: pass api_key= or set {ENV_API_KEY}. Keys are created per region in "
            "the Model Studio console."
        )
    if base_url is not None and (region is not None or workspace_id is not None):
        raise ConfigurationError(
            "Pass either base_url= or region=/workspace_id=, not both: they both choose the host."
        )
    if base_url is not None:
        host, source = base_url, "argument"
    elif region is not None or workspace_id is not None:
        host, source = _region_host(region or DEFAULT_REGION, workspace_id), "region"
    else:
        named = next(((name, env[name]) for name in ENV_BASE_URLS if env.get(name)), None)
        if named is not None:
            source, host = named
        else:
            host, source = REGIONS[DEFAULT_REGION].host(None), "default"
    return ResolvedConfig(
        api_key=check_api_key(key),
        host_url=normalize_host_url(host, allow_insecure_http=allow_insecure_http),
        base_url_source=source,
    )


def _region_host(region: str, workspace_id: str | None) -> str:
    try:
        spec = REGIONS[region]
    except KeyError:
        raise ConfigurationError(
            f"Unknown region {region!r}; regions are: " + ", ".join(REGIONS) + "."
        ) from None
    if workspace_id is not None and not _valid_workspace_id(workspace_id):
        raise ConfigurationError(
            f"workspace_id {workspace_id!r} is not a workspace id (letters, digits and '-')."
        )
    return "https://" + spec.host(workspace_id)


def _valid_workspace_id(workspace_id: str) -> bool:
    return bool(workspace_id) and all(c.isalnum() or c == "-" for c in workspace_id)
