"""Vectors of a finished batch run served by their text: what the framework adapters need.

A vector store asks for the vectors of the texts it is given, not of row numbers; this maps
each text of the run to its row of the sink's array (a duplicate text keeps its first row:
equal texts have equal vectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .fingerprint import fingerprint
from .job import BatchJob
from .sinks import ArraySink

__all__ = ["VectorLookup", "embed_corpus"]


class VectorLookup:
    """``text -> float32 vector`` for the rows of one run."""

    def __init__(self, texts: Iterable[str], vectors: npt.NDArray[np.float32]) -> None:
        self.vectors = vectors
        self._rows: dict[str, int] = {}
        for row, text in enumerate(texts):
            self._rows.setdefault(text, row)
        if len(self._rows) and max(self._rows.values()) >= len(vectors):
            raise ValueError("more texts than vectors")

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> npt.NDArray[np.float32] | None:
        row = self._rows.get(text)
        return None if row is None else self.vectors[row]

    def split(self, texts: Sequence[str]) -> tuple[dict[int, npt.NDArray[np.float32]], list[int]]:
        """The vectors found by position, and the positions of the texts not in the run."""
        found: dict[int, npt.NDArray[np.float32]] = {}
        missing: list[int] = []
        for i, text in enumerate(texts):
            vector = self.get(text)
            if vector is None:
                missing.append(i)
            else:
                found[i] = vector
        return found, missing


def embed_corpus(
    texts: Sequence[str], manifest_dir: str | Path, **job_options: Any
) -> VectorLookup:
    """Run (or resume) the batch job for exactly these texts and serve its vectors by text.

    The manifest is ``manifest_dir/<digest of the texts>.sqlite``: the same texts resume the
    same run, other texts start another. ``job_options`` go to ``BatchJob``; rows that still
    fail after its rounds (and fallback, if asked) are left out of the lookup, so the adapters
    embed them in real time.
    """
    directory = Path(manifest_dir)
    directory.mkdir(parents=True, exist_ok=True)
    sink = ArraySink()
    path = directory / f"{fingerprint(texts)}.sqlite"
    with BatchJob(path, sink, **job_options) as job:
        result = job.run(texts)
    failed = {failure.row for failure in result.failures}
    kept = [t for row, t in enumerate(texts) if row not in failed]
    rows = [row for row in range(len(texts)) if row not in failed]
    return VectorLookup(kept, sink.array[rows] if failed else sink.array)
