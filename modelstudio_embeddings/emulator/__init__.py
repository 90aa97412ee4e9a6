"""The emulator's former home, kept so that ``from modelstudio_embeddings.emulator import
Emulator`` (and ``python -m modelstudio_embeddings.emulator``) keep working: the emulator is
its own package, ``modelstudio_emulator``, in the same distribution."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelstudio_emulator import (
        CONTRACT_ERRORS,
        Emulator,
        EmulatorStats,
        Fault,
        RequestRecord,
        connect,
    )

__all__ = ["CONTRACT_ERRORS", "Emulator", "EmulatorStats", "Fault", "RequestRecord", "connect"]


def __getattr__(name: str) -> Any:
    import modelstudio_emulator

    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(modelstudio_emulator, name)
