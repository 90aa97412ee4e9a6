"""The Ray side of ``RayBudget``: a named actor holding the budget states, and the backend each
client talks to it through.

The actor runs the same pure functions as ``LocalBudget`` (``take``, ``settle``, ``throttled``
on a ``BudgetState``) under its own clock, one call at a time, so every worker of the cluster
sees one budget. Two things keep the actor's load small: ``settle`` and ``throttled`` are sent
without waiting for an answer (a Ray actor runs one caller's calls in order), and a process
that was told to wait does not ask again before that wait is over: its other threads are told
the rest of the wait locally, so a pool of threads waiting for the budget costs a few calls per
grant, not one per thread and per poll.

Imported only when a ``RayBudget`` is first used: it imports ``ray``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ray

from .budget_state import LocalBackend
from .ratelimit import RateLimit

__all__ = ["BudgetActor", "RayBackend"]


_METHODS = frozenset({"take", "settle", "throttled", "limits"})


class BudgetActor:
    """The budget states of one ``RayBudget`` name (one per budget group and limit), kept by
    the same backend as ``LocalBudget``'s: the actor forwards each call of the
    ``BudgetBackend`` protocol to it with the arguments it was given, so the two cannot
    disagree about what a call means."""

    def __init__(self) -> None:
        self._budget = LocalBackend()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``method`` of the budget backend (``take``, ``settle`` or ``throttled``)."""
        if method not in _METHODS:
            raise ValueError(f"not a budget method: {method!r}")
        return getattr(self._budget, method)(*args, **kwargs)


# No CPU reserved: the actor does microseconds of arithmetic per call, and a reserved CPU
# would take a slot from the work it paces. Restarted by Ray if its process dies.
_RemoteBudgetActor: Any = ray.remote(num_cpus=0, max_restarts=-1)(BudgetActor)


class RayBackend:
    """A ``BudgetBackend`` whose state lives in the actor ``name`` (in ``namespace``, detached
    or not: a ``RayBudget``'s settings); the actor is looked up (or created) at the first call,
    and again if it is lost."""

    def __init__(self, name: str, namespace: str | None, detached: bool) -> None:
        self.name = name
        self.namespace = namespace
        self.detached = detached
        self._actor: Any = None
        self._lock = threading.Lock()
        self._not_before: dict[tuple[str, RateLimit], float] = {}

    def _handle(self) -> Any:
        with self._lock:  # one lookup (or creation) of the named actor per process
            if self._actor is None:
                options: dict[str, Any] = {"name": self.name, "get_if_exists": True}
                if self.namespace is not None:
                    options["namespace"] = self.namespace
                if self.detached:
                    options["lifetime"] = "detached"
                self._actor = _RemoteBudgetActor.options(**options).remote()
            return self._actor

    def _send(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the actor (an ObjectRef); a lost actor is looked up or created once again."""
        try:
            return self._handle().call.remote(method, *args, **kwargs)
        except ray.exceptions.RayActorError:
            self._actor = None
            return self._handle().call.remote(method, *args, **kwargs)

    def take(self, group: str, limit: RateLimit, requests: float, tokens: float) -> float:
        key = (group, limit)
        with self._lock:
            hold = self._not_before.get(key, 0.0) - time.monotonic()
        if hold > 0:
            return hold
        # The round trip is made outside the lock: threads whose wait is over ask at once
        # (the actor answers them in turn), so a slow round trip on a loaded machine does not
        # bound the process to one grant per round trip.
        try:
            wait = float(ray.get(self._send("take", group, limit, requests, tokens)))
        except ray.exceptions.RayActorError:
            self._actor = None
            wait = float(ray.get(self._send("take", group, limit, requests, tokens)))
        if wait > 0:
            with self._lock:
                self._not_before[key] = time.monotonic() + wait
        return wait

    # ``settle`` and ``throttled`` pass their arguments through as they come: the actor's
    # backend is ``LocalBudget``'s, whose signature is the protocol's.

    def settle(self, group: str, limit: RateLimit, *args: Any, **kwargs: Any) -> None:
        """Correct the budget by what an answer used; sent without waiting for the actor."""
        self._send("settle", group, limit, *args, **kwargs)

    def throttled(self, group: str, limit: RateLimit, *args: Any, **kwargs: Any) -> None:
        """Report a 429 (cuts the shared level); sent without waiting for the actor (so what
        changed is not known here: None)."""
        self._send("throttled", group, limit, *args, **kwargs)

    def limits(self, group: str, limit: RateLimit) -> RateLimit:
        """The limits the shared budget paces at now (one round trip to the actor)."""
        result: RateLimit = ray.get(self._send("limits", group, limit))
        return result
