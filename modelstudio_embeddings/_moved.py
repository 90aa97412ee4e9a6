"""The module paths of the flat layout (before the rooms), kept for compatibility: a user's
``from modelstudio_embeddings.client import EmbeddingClient`` keeps working. Each old path is a
small module made on first import whose names are looked up in the rooms that now hold them;
nothing is imported until a name is used. New code imports the package's public names."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["MOVED", "install"]

_PACKAGE = "modelstudio_embeddings"

MOVED: dict[str, tuple[str, ...]] = {
    "client": ("embeddings.client",),
    "config": ("core.config", "embeddings.models"),
    "errors": ("core.errors",),
    "execution": ("core.execution", "core.vector_call"),
    "executor": ("core.executor",),
    "forking": ("core.forking",),
    "governor": ("core.governor", "core.budgets", "core.budget_state"),
    "limiter": ("core.limiter",),
    "models": ("embeddings.models",),
    "planning": ("core.planning",),
    "progress": ("core.progress",),
    "quotas": ("core.quotas",),
    "ratelimit": ("core.ratelimit",),
    "ray_budget": ("core.ray_budget",),
    "rerank_client": ("rerank.client",),
    "rerank_models": ("rerank.models",),
    "rerank_planning": ("rerank.planning",),
    "rerank_settings": ("rerank.settings",),
    "rerank_wire": ("rerank.wire",),
    "reranking": ("rerank.call",),
    "retry": ("core.retry",),
    "service": ("core.service",),
    "settings": ("embeddings.settings", "core.settings"),
    "tokens": ("core.tokens",),
    "transport": ("core.transport",),
    "usage": ("core.usage",),
    "wire": ("embeddings.wire", "core.vectors", "core.answers"),
}
"""Old module (below the package) -> the modules that now hold its names, searched in order."""


def _lookup(old: str, homes: Sequence[str]) -> Any:
    def __getattr__(name: str) -> Any:
        for home in homes:
            module = importlib.import_module(f"{_PACKAGE}.{home}")
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {_PACKAGE}.{old!r} has no attribute {name!r}")

    return __getattr__


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths (and only them) and makes each its forwarding module."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, old = fullname.rpartition(".")
        if package != _PACKAGE or not MOVED.get(old):
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__.rpartition(".")[2]
        homes = MOVED[old]
        module.__doc__ = (
            f"Kept for compatibility: the names of ``{module.__name__}`` now live in "
            + ", ".join(f"``{_PACKAGE}.{home}``" for home in homes)
            + "."
        )
        module.__getattr__ = _lookup(old, homes)  # type: ignore[method-assign]


_FINDER = _Finder()


def install() -> None:
    """Let the old paths import (once per interpreter, however often the package loads)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_FINDER)
