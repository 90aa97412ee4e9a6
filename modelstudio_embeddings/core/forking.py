"""What a forked child must forget: its parent's threads do not exist in it, its parent's
connections are not its own, and a lock a parent's thread held stays held. Objects that hold
such things register here and are told to forget them in every child (``os.register_at_fork``),
so a client built before a ``fork`` (multiprocessing, Gunicorn) works in the child."""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["Forgetful", "forget_in_children"]


class Forgetful(Protocol):
    def forget_after_fork(self) -> None:
        """Drop (without closing) what belonged to the parent; rebuild on first use."""


_LIVE: weakref.WeakSet[Forgetful] = weakref.WeakSet()


def forget_in_children(obj: Forgetful) -> None:
    """Have ``obj.forget_after_fork()`` called in every child forked from now on."""
    _LIVE.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_LIVE):
        obj.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
