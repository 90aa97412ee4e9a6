"""Duplicate texts sent once: scraped corpora repeat headers, footers and boilerplate.

While the texts stream into request files, each distinct text becomes a *unit* (numbered in
the order first seen) and only units are planned, sent and billed; a row repeating an
earlier text is recorded as a copy of that unit. ``RowSink`` puts each unit's vector at its
row and at every copy's, so the rest of the run (requests, follow-ups, the fallback) works
in units and never knows. Without a repeat, units are rows and nothing is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from .manifest import Manifest
from .sinks import Sink

__all__ = ["Deduplicator", "RowSink"]

_FLUSH = 10_000


class Deduplicator:
    """Yields each distinct text once, recording rows and copies in the manifest."""

    def __init__(self, manifest: Manifest) -> None:
        self._manifest = manifest
        self.rows = 0
        self.units = 0
        self._copies: list[tuple[int, int, str]] = []
        self._shifted: list[tuple[int, int]] = []
        self._recent: dict[int, int] = {}

    def through(self, texts: Iterable[str]) -> Iterator[str]:
        for text in texts:
            row = self.rows
            self.rows += 1
            if not isinstance(text, str):  # the planner's check names the row
                self._remember(row)
                yield text
                continue
            digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
            first = self._manifest.seen(digest.digest(), self.units)
            if first is not None:
                self._copies.append((row, first, text))
            else:
                self._remember(row)
                yield text
            if len(self._copies) + len(self._shifted) >= _FLUSH:
                self.flush()
        self.flush()
        self._manifest.forget_digests()

    def _remember(self, row: int) -> None:
        if row != self.units:
            self._shifted.append((self.units, row))
            self._recent[self.units] = row
        self.units += 1

    def row_of(self, unit: int) -> int:
        """The row of a unit, for messages that name rows."""
        if unit in self._recent:
            return self._recent[unit]
        return self._manifest.rows_of(unit, unit + 1)[0]

    def flush(self) -> None:
        """Record what was buffered (the recent units' rows are then the manifest's)."""
        if self._copies or self._shifted:
            self._manifest.add_mapping(self._copies, self._shifted)
            self._copies, self._shifted = [], []
            self._recent.clear()


class RowSink:
    """The user's sink seen in units: a unit's vector lands at its row and its copies'."""

    def __init__(self, inner: Sink, manifest: Manifest) -> None:
        self.inner = inner
        self._manifest = manifest
        self._identity = True

    def open(self, units: int, width: int) -> bool:
        """Open the user's sink for every row (the manifest's count, not ``units``)."""
        self._identity = not self._manifest.deduplicated
        return self.inner.open(int(self._manifest.get("rows") or units), width)

    def write(self, start: int, vectors: npt.NDArray[np.float32]) -> None:
        if self._identity:
            self.inner.write(start, vectors)
            return
        stop = start + len(vectors)
        rows = self._manifest.rows_of(start, stop)
        run = 0  # write runs of consecutive rows as blocks
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i] != rows[i - 1] + 1:
                self.inner.write(rows[run], vectors[run:i])
                run = i
        for row, unit in self._manifest.copies_of(start, stop):
            self.inner.write(row, vectors[unit - start : unit - start + 1])

    def flush(self) -> None:
        self.inner.flush()

    def close(self, texts: Any | None = None) -> None:
        self.inner.close(texts)
