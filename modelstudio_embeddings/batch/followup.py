"""What a run does with the requests its jobs left without vectors.

A transient failure (expired, cancelled, a 5xx, a malformed answer) is sent again as it is; a
line that one row's content or length refused is split row by row, so the follow-up job
embeds every clean row at the batch price and leaves only the refused rows, each with its
own reason. Both go in follow-up files (``max_rounds`` of them). A refused line costs
nothing, so no row is ever billed twice. The real-time fallback, when asked, embeds what is
still left through ``EmbeddingClient`` and keeps every row it returns (``exc.partial``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelStudioError
from .collect import Collector
from .limits import FileLimits
from .manifest import FINAL, Manifest
from .output import REASON_CHARS
from .requests import texts_for, write_followup_files
from .submission import TERMINAL

if TYPE_CHECKING:
    from ..embeddings.client import EmbeddingClient

__all__ = ["FollowUps"]


class FollowUps:
    """Follow-up rounds and the real-time fallback of one manifest."""

    def __init__(
        self,
        manifest: Manifest,
        collector: Collector,
        *,
        file_limits: FileLimits,
        max_rounds: int,
        realtime: Callable[[], EmbeddingClient],
    ) -> None:
        self.manifest = manifest
        self.collector = collector
        self.file_limits = file_limits
        self.max_rounds = max_rounds
        self._realtime = realtime

    def next_round(self) -> bool:
        """Queue what a follow-up can still embed in new files; False when nothing is left."""
        if any(j.status not in TERMINAL for j in self.manifest.jobs()):
            return True
        if any(
            f.state != "uploaded" or self.manifest.job_for(f.name) is None
            for f in self.manifest.files()
        ):
            return True  # a follow-up written but not yet submitted (a crash in between)
        round_number = int(self.manifest.get("round") or 0) + 1
        if round_number > self.max_rounds:
            return False
        for request in self.manifest.to_isolate():
            self.manifest.split(request.start)
        failures = self.manifest.retryable_failures()
        if not failures:
            return False
        write_followup_files(self.manifest, failures, round_number, self.file_limits)
        self.manifest.set("round", round_number)
        return True

    def fallback(self, rows: int) -> None:
        """Embed what is still failed through the real-time client, keeping every clean row."""
        failed = self.manifest.requests(state="failed")
        if not failed:
            return
        self.collector.open(rows)
        texts = texts_for(self.manifest, failed)
        with self._realtime() as client:
            for request in failed:
                try:
                    vectors = client.embed(texts[request.start])
                except ModelStudioError as exc:
                    self._keep_partial(request.start, request.reason, exc)
                    continue
                self._store(request.start, vectors)

    def _store(self, start: int, vectors: npt.NDArray[np.float32]) -> None:
        sink = self.collector.sink
        sink.write(start, vectors)
        self.collector.at_risk.discard(start)
        sink.flush()
        self.manifest.mark_done([(start, 0)])

    def _keep_partial(self, start: int, batch_reason: str | None, exc: ModelStudioError) -> None:
        """The rows the real-time call did embed are stored; only its refused rows fail."""
        reason = f"{batch_reason}; real-time: {exc.message}"[:REASON_CHARS]
        partial = exc.partial
        if partial is None or not len(partial):
            self.manifest.mark_failed([(start, reason, FINAL)])
            return
        singles = self.manifest.split(start, FINAL)
        for offset, vector in zip(partial.indices, partial.vectors, strict=True):
            self._store(start + offset, vector[None, :])
        embedded = set(partial.indices)
        self.manifest.mark_failed(
            (r.start, reason, FINAL) for r in singles if r.start - start not in embedded
        )
