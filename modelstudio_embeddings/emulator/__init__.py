"""An emulator of Model Studio's embedding service: a real HTTP server on loopback.

Its vectors are deterministic and meaningful (texts sharing words are close) but are NOT the
real model's vectors. Use it to test pipelines without a key: ``with Emulator() as emu:`` and
point a client at ``emu.base_url`` with ``emu.api_key``.
"""

from .connect import connect
from .faults import CONTRACT_ERRORS, Fault
from .server import Emulator, EmulatorStats, RequestRecord

__all__ = ["CONTRACT_ERRORS", "Emulator", "EmulatorStats", "Fault", "RequestRecord", "connect"]
