"""One line for notebooks and scripts: the real service with a key, else a local emulator."""

from __future__ import annotations

import atexit
import os
from typing import Any

from .server import Emulator

__all__ = ["connect"]

_running: Emulator | None = None


def connect(**emulator_settings: Any) -> dict[str, str]:
    """Client settings: ``{}`` when ``DASHSCOPE_API_KEY`` is set (the real service), otherwise
    the ``api_key`` and ``base_url`` of an emulator started for this process, saying so."""
    global _running
    if os.environ.get("DASHSCOPE_API_KEY"):
        print("Using the real Model Studio service (DASHSCOPE_API_KEY is set).")
        return {}
    if _running is None:
        _running = Emulator(**emulator_settings).start()
        atexit.register(_running.stop)
    elif emulator_settings:
        _running.configure(**emulator_settings)
    print(
        f"No DASHSCOPE_API_KEY: using the local emulator at {_running.base_url} "
        "(its vectors are not the real model's)."
    )
    return {"api_key": _running.api_key, "base_url": _running.base_url}
