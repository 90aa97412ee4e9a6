"""One multimodal call as the embedding ``Call``'s state machine, with items for rows.

Retries, re-splitting, isolating an item whose content the service refused (moderation, a URL
it could not fetch, a text too long), the deadline, partial results and the final error are
the embedding call's own (``core.vector_call.Call``); this adds only how a batch of items becomes a
request (local images read and encoded then, not before) and counts the images embedded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.execution import Request, Send
from ..core.planning import Batch
from ..core.vector_call import Call
from .items import Content
from .wire import MULTIMODAL_PATH, multimodal_body

__all__ = ["MultimodalCall", "MultimodalRequests"]


@dataclass(frozen=True)
class MultimodalRequests:
    """How a batch's items become one request: the model, the width sent, fusion or not."""

    model: str
    dimension: int | None
    fusion: bool = False

    def request(self, contents: Sequence[Content]) -> Request:
        """The request for ``contents``; a local image's bytes are read here."""
        wired = [content.wire() for content in contents]
        body = multimodal_body(self.model, wired, self.dimension, fusion=self.fusion)
        return Request("embed", MULTIMODAL_PATH, body)


class MultimodalCall(Call):
    """An embedding ``Call`` whose rows are items (``Content``) or, fused, groups of items."""

    def __init__(
        self,
        rows: Sequence[Content] | Sequence[Sequence[Content]],
        width: int,
        *,
        build: MultimodalRequests,
        batches: list[Batch],
        **call: Any,
    ) -> None:
        super().__init__(rows, width, **call)
        self._build = build
        self._pending = deque(batches)

    def _contents(self, batch: Batch) -> list[Content]:
        rows = self.texts[batch.start : batch.stop]
        if self._build.fusion:  # one group a request
            return [content for group in rows for content in group]
        return list(rows)

    def _send_for(self, batch: Batch) -> Send:
        contents = self._contents(batch)
        chars = sum(content.chars for content in contents)
        return Send(self._build.request(contents), batch, chars)

    def _succeeded(self, batch: Batch) -> None:
        images = sum(content.kind == "image" for content in self._contents(batch))
        if images:
            self._usage.add(images=images)
        super()._succeeded(batch)
