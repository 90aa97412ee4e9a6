"""The budgets a user chooses (``rate_budget=``): where a budget group's state lives.
``LocalBudget`` (this process), ``FileBudget`` (the processes of one machine, a flock'd file),
``RayBudget`` (a cluster, a named actor); each only says where and opens its backend."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .budget_state import (
    LOCAL_BACKEND,
    Bucket,
    BudgetBackend,
    BudgetState,
    StateBackend,
    new_state,
)
from .errors import ConfigurationError
from .ratelimit import RateLimit

__all__ = ["DETACHED_NAMESPACE", "FileBudget", "LocalBudget", "RayBudget"]

DETACHED_NAMESPACE = "modelstudio-embeddings"
"""Where a detached ``RayBudget`` lives unless told a namespace: one for every job."""


@dataclass(frozen=True)
class LocalBudget:
    """The budget is this process's alone (the default): clients of one process that name
    the same group share it; other processes must be told to use a share, or use a shared
    budget."""

    def open(self) -> BudgetBackend:
        return LOCAL_BACKEND


@dataclass(frozen=True)
class FileBudget:
    """One budget for every process of this machine that names the same file: the state lives
    in ``path`` (a small JSON file), read and written under an exclusive ``flock``. No server
    to run; the processes' clocks are the machine's monotonic clock."""

    path: str

    def open(self) -> BudgetBackend:
        return _FileBackend(self.path)


class _FileBackend(StateBackend):
    def __init__(self, path: str) -> None:
        self._path = os.fspath(path)

    def _apply(
        self, group: str, limit: RateLimit, change: Callable[[BudgetState, float], Any]
    ) -> Any:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 65536):
                raw += chunk
            states: dict[str, Any] = json.loads(raw) if raw else {}
            key = f"{group}|{limit.requests_per_minute}|{limit.tokens_per_minute}"
            now = time.monotonic()
            state = _from_dict(states[key]) if key in states else new_state(limit, now)
            result = change(state, now)
            states[key] = asdict(state)
            data = json.dumps(states).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            return result
        finally:
            os.close(fd)  # releases the lock


@dataclass(frozen=True)
class RayBudget:
    """One budget for every process of a Ray cluster that names the same actor: the state lives
    in a named Ray actor (created by the first process to use it, found by the others with
    ``get_if_exists``), so N workers share the account's requests and tokens per minute instead
    of each pacing at the whole limit. Only settings travel in a pickle; ``ray`` is imported
    when the budget is first used (the ``ray`` extra).

    Args:
        name: The actor's name; clients naming the same one share one budget.
        namespace: The Ray namespace to look the actor up in. None: ``DETACHED_NAMESPACE``
            for a detached budget (the account's limits are shared by every job, and Ray
            warns about a detached actor in a job's anonymous namespace, which no later job
            could find), the job's own for one that is not detached.
        detached: Keep the actor alive after the process that created it ends (the default:
            Ray Data ends its actors one by one as the inputs run out, and the budget must
            outlive the first to go), until ``ray.kill`` or the cluster's end; later jobs
            naming the same budget find it. When False, the actor lives as long as the
            process that created it; if that process ends first, the next call creates a
            fresh budget, which starts its slow start again.
    """

    name: str = "modelstudio-budget"
    namespace: str | None = None
    detached: bool = True

    def __post_init__(self) -> None:
        if importlib.util.find_spec("ray") is None:  # said now, not at the first request
            raise ConfigurationError(
                "RayBudget needs ray, which is not installed: "
                'pip install "modelstudio-embeddings[ray]"'
            )

    def open(self) -> BudgetBackend:
        from .ray_budget import RayBackend  # imports ray: only when a Ray budget is used

        namespace = self.namespace
        if namespace is None and self.detached:
            namespace = DETACHED_NAMESPACE
        return RayBackend(self.name, namespace, self.detached)


def _from_dict(data: dict[str, Any]) -> BudgetState:
    return BudgetState(
        requests=Bucket(**_finite(data["requests"])),
        tokens=Bucket(**_finite(data["tokens"])),
        updated=data["updated"],
    )


_BUCKET_FIELDS = frozenset(Bucket.__dataclass_fields__)
_NEGATIVE_INFINITE = frozenset({"cut_at", "ramp_from", "learned_at"})


def _finite(bucket: dict[str, Any]) -> dict[str, Any]:
    """A bucket's fields from its JSON form (written by this or an older version: a field it
    no longer has is dropped, one it lacks takes its default)."""
    return {
        k: (-math.inf if v is None and k in _NEGATIVE_INFINITE else v)
        for k, v in bucket.items()
        if k in _BUCKET_FIELDS
    }
