"""The account's limits as the service tells them: ``GET {host}/api/v1/quotas`` answers each
model's limits for the calling key (Model Studio, 2026-09: Beijing, Singapore, Hong Kong,
Frankfurt, Virginia). The answer's shape is not settled by a public source, so the reader
accepts every plausible form: a list of entries (under ``data``, ``quotas``, ``models``,
``output``...) that name the model (``model``, ``model_name``, ``modelName``, ``name``) beside
its limits (``rpm``/``tpm``, ``requests_per_minute``/``tokens_per_minute``, per-second
``rps``/``qps``/``tps``, or ``[{"type": "rpm", "value": ...}]``), or a mapping by model name.

Asked once per client and host, cached for the process; any failure (a 404 from a gateway,
a timeout, an answer this cannot read) means "not told here", never an error.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2

from .ratelimit import RateLimit
from .transport import _tls_context

__all__ = ["QUOTAS_PATH", "fetch_quotas", "parse_quotas"]

QUOTAS_PATH = "/api/v1/quotas"

_PER_MINUTE = {
    "requests": ("rpm", "requests_per_minute", "request_limit", "requestsperminute"),
    "tokens": ("tpm", "tokens_per_minute", "token_limit", "tokensperminute"),
}
_PER_SECOND = {"requests": ("rps", "qps", "requests_per_second"), "tokens": ("tps",)}
_NAME_KEYS = ("model", "model_name", "modelname", "name", "model_id", "modelid")

_cache: dict[tuple[str, str, str], RateLimit | None] = {}
_cache_lock = threading.Lock()


def parse_quotas(payload: object, model: str) -> RateLimit | None:
    """``model``'s limits in a quotas answer, or None if it names none for that model."""
    for entry in _entries_for(payload, model):
        limit = _limits_of(entry)
        if limit is not None:
            return limit
    return None


def _entries_for(payload: object, model: str) -> Iterator[Mapping[str, Any]]:
    """Every mapping in ``payload`` that is about ``model`` (named in it, or keyed by it)."""
    if isinstance(payload, Mapping):
        lowered = {str(k).lower(): v for k, v in payload.items()}
        if any(lowered.get(key) == model for key in _NAME_KEYS):
            yield payload
        for key, value in payload.items():
            if key == model and isinstance(value, Mapping):
                yield value
            yield from _entries_for(value, model)
    elif isinstance(payload, list):
        for item in payload:
            yield from _entries_for(item, model)


def _limits_of(entry: Mapping[str, Any]) -> RateLimit | None:
    fields = _numbers(entry)
    found: dict[str, float] = {}
    for kind in ("requests", "tokens"):
        for key in _PER_MINUTE[kind]:
            if key in fields:
                found[kind] = fields[key]
                break
        else:
            for key in _PER_SECOND[kind]:
                if key in fields:
                    found[kind] = fields[key] * 60
                    break
    if not found:
        return None
    try:
        return RateLimit(found.get("requests"), found.get("tokens"))
    except ValueError:  # zero or negative: not a limit to pace by
        return None


def _numbers(entry: Mapping[str, Any]) -> dict[str, float]:
    """The positive numbers of an entry by lower-case key, nested ``limits``/``quota``
    objects and ``[{"type", "value"}]`` lists included."""
    numbers: dict[str, float] = {}
    for key, value in entry.items():
        name = str(key).lower().replace("-", "_")
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value > 0:
            numbers.setdefault(name, float(value))
        elif isinstance(value, Mapping) and name in ("limits", "limit", "quota", "quotas"):
            for inner, number in _numbers(value).items():
                numbers.setdefault(inner, number)
        elif isinstance(value, list) and name in ("limits", "quotas", "quota"):
            for item in value:
                if isinstance(item, Mapping):
                    kind = str(item.get("type") or item.get("name") or "").lower()
                    number = item.get("value", item.get("limit"))
                    if kind and isinstance(number, int | float) and not isinstance(number, bool):
                        numbers.setdefault(kind, float(number))
    return numbers


def fetch_quotas(
    host_url: str, api_key: str, model: str, *, timeout: float = 3.0
) -> RateLimit | None:
    """``model``'s limits from ``host_url``'s quotas endpoint (cached per host, key and model
    for the process), or None where the host does not tell them."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]  # the key itself is not kept
    key = (host_url, digest, model)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    limit: RateLimit | None = None
    try:
        response = httpx2.get(
            host_url + QUOTAS_PATH,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            follow_redirects=False,  # the key goes to the configured host only
            verify=_tls_context(),
        )
        if response.status_code == 200:
            limit = parse_quotas(response.json(), model)
    except (httpx2.HTTPError, ValueError):
        limit = None
    with _cache_lock:
        _cache[key] = limit
    return limit


def forget_quotas() -> None:
    """Empty the cache (tests; a process whose account's limits changed)."""
    with _cache_lock:
        _cache.clear()
