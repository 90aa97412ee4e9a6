"""Batch API fixtures: the session's emulator on a compressed batch clock, and a factory of
BatchJobs aimed at it that poll every few milliseconds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelstudio_embeddings.batch import BatchJob
from modelstudio_emulator import Emulator

BATCH_DEFAULTS: dict[str, Any] = {
    "batch_validation_seconds": 0.01,
    "batch_seconds_per_request": 0.0005,
    "batch_duration": None,
    "batch_finalizing_seconds": 0.01,
    "batch_output_format": "openai",
    "batch_output_order": "shuffled",
    "batch_limits": None,
}


@pytest.fixture
def batch_emu(emulator: Emulator) -> Emulator:
    emulator.batch.reset()
    emulator.configure(**BATCH_DEFAULTS)
    return emulator


@pytest.fixture
def make_job(batch_emu: Emulator, tmp_path: Path) -> Iterator[Callable[..., BatchJob]]:
    made: list[BatchJob] = []

    def make(manifest: str = "run.sqlite", **kwargs: Any) -> BatchJob:
        kwargs.setdefault("dimensions", 64)
        kwargs.setdefault("poll_interval", (0.005, 0.05))
        job = BatchJob(
            tmp_path / manifest,
            api_key=batch_emu.api_key,
            base_url=batch_emu.base_url,
            allow_insecure_http=True,
            **kwargs,
        )
        made.append(job)
        return job

    yield make
    for job in made:
        job.close()
