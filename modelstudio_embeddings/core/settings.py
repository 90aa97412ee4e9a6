"""What every family's settings value shares: the defaults, the derived retry policy and
starting concurrency (``SharedSettings``), and the checks of the settings every client has.
Each family's frozen settings value (``ClientSettings``, ``RerankSettings``) mixes it in."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .errors import ConfigurationError
from .retry import RetryPolicy
from .tokens import TOKENIZERS

__all__ = [
    "DEFAULT_INITIAL_CONCURRENCY",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "ON_TOO_LONG",
    "PROTOCOL_NAMES",
    "SharedSettings",
    "check_shared_settings",
    "is_int",
    "one_of",
    "retry_in_force",
]

DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_INITIAL_CONCURRENCY = 8
DEFAULT_TIMEOUT = 60.0
PROTOCOL_NAMES = ("compatible", "native")
ON_TOO_LONG = ("error", "truncate")


class SharedSettings:
    """What every client's settings value derives the same way (mixed into the dataclasses
    ``ClientSettings`` and ``RerankSettings``)."""

    max_concurrency: int
    max_retries: int | None
    retry_policy: RetryPolicy | None

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return retry_in_force(self.retry_policy, self.max_retries)

    @property
    def initial_concurrency(self) -> int:
        """Where the adaptive bound starts (slow start doubles it every round trip)."""
        return min(self.max_concurrency, DEFAULT_INITIAL_CONCURRENCY)

    def as_dict(self) -> dict[str, Any]:
        """The settings by name (never a key: there is none here)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


def check_shared_settings(settings: Any) -> None:
    """The checks of the settings every client has (embeddings and rerank alike): limits,
    timeout, retries, ``on_too_long`` and ``tokenizer``; a ConfigurationError for the first
    wrong one."""
    one_of("on_too_long", settings.on_too_long, ON_TOO_LONG)
    one_of("tokenizer", settings.tokenizer, TOKENIZERS)
    if not is_int(settings.max_concurrency) or settings.max_concurrency < 1:
        raise ConfigurationError("max_concurrency must be an int of at least 1.")
    retries = settings.max_retries
    if retries is not None and (not is_int(retries) or retries < 0):
        raise ConfigurationError("max_retries must be an int of 0 or more.")
    if isinstance(settings.timeout, bool) or not isinstance(settings.timeout, int | float):
        raise ConfigurationError("timeout must be a number of seconds.")
    if not settings.timeout > 0:
        raise ConfigurationError("timeout must be a positive number of seconds.")
    policy = settings.retry_policy
    if policy is not None and not isinstance(policy, RetryPolicy):
        raise ConfigurationError("retry_policy must be a RetryPolicy.")
    if policy is not None and retries not in (None, policy.max_retries):
        raise ConfigurationError(
            f"max_retries={retries} contradicts retry_policy.max_retries="
            f"{policy.max_retries}: pass one of them."
        )


def retry_in_force(retry_policy: RetryPolicy | None, max_retries: int | None) -> RetryPolicy:
    """The retry policy a client uses: the one given, else the default with ``max_retries``."""
    if retry_policy is not None:
        return retry_policy
    if max_retries is None:
        return RetryPolicy()
    return RetryPolicy(max_retries=max_retries)


def one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ConfigurationError(f"{name} must be one of {options}, got {value!r}.")


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
