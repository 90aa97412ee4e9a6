"""An emulator of Model Studio's embedding service: a real HTTP server on loopback.

Its vectors are deterministic and meaningful (texts sharing words are close) but are NOT the
real model's vectors. Use it to test pipelines without a key: ``with Emulator() as emu:`` and
point a client at ``emu.base_url`` with ``emu.api_key``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connect import connect
    from .faults import CONTRACT_ERRORS, BatchFault, Fault
    from .images import captioned_png
    from .limits import RateLimitSpec
    from .server import Emulator, EmulatorStats, RequestRecord

# Imported on first use: the pytest plugin lives in this package, and a test run that never
# asks for its fixtures should not pay for the server, numpy or the SDK.
_LAZY = {
    "connect": ".connect",
    "captioned_png": ".images",
    "CONTRACT_ERRORS": ".faults",
    "Fault": ".faults",
    "RateLimitSpec": ".limits",
    "BatchFault": ".faults",
    "Emulator": ".server",
    "EmulatorStats": ".server",
    "RequestRecord": ".server",
}

__all__ = [
    "CONTRACT_ERRORS",
    "BatchFault",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "RateLimitSpec",
    "RequestRecord",
    "captioned_png",
    "connect",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
