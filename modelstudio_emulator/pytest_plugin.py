"""Pytest fixtures for pipeline tests without a key (registered as a pytest11 entry point).

- ``modelstudio_emulator``: a fresh emulator for one test.
- ``modelstudio_emulator_session``: one emulator for the session; call ``.reset()`` in tests.
- ``modelstudio_env``: a fresh emulator with ``DASHSCOPE_API_KEY`` and ``DASHSCOPE_BASE_URL``
  pointing at it, so code that reads the environment needs no change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the server is imported only when a fixture is used
    from .server import Emulator


@pytest.fixture
def modelstudio_emulator() -> Iterator[Emulator]:
    """A started emulator, stopped after the test."""
    from .server import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def modelstudio_emulator_session() -> Iterator[Emulator]:
    """One emulator shared by the session; reset it where a test reads the log."""
    from .server import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def modelstudio_env(modelstudio_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator, with the DASHSCOPE_* environment aimed at it for this test."""
    monkeypatch.setenv("DASHSCOPE_API_KEY", modelstudio_emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_BASE_URL", modelstudio_emulator.base_url)
    monkeypatch.delenv("DASHSCOPE_API_BASE", raising=False)
    return modelstudio_emulator
