"""What a batch run reports: its estimate before, and after it the rows stored, the rows left
without vectors with the service's reason for each, usage and cost."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..core.usage import Usage, plural
from .manifest import Manifest
from .requests import read_lines
from .sinks import Sink

__all__ = [
    "BatchResult",
    "CostEstimate",
    "RowFailure",
    "read_failures",
    "texts_in_row_order",
]


@dataclass(frozen=True)
class RowFailure:
    """A row that has no vector, and the service's reason."""

    row: int
    reason: str


@dataclass(frozen=True)
class CostEstimate:
    """What a run will cost before it is submitted (tokens estimated conservatively)."""

    rows: int
    requests: int
    files: int
    estimated_tokens: int
    batch_cost_cny: float
    realtime_cost_cny: float
    distinct_rows: int | None = None
    """Rows with a text not seen earlier in the corpus: only these are sent and billed."""

    def __str__(self) -> str:
        repeats = ""
        if self.distinct_rows is not None and self.distinct_rows != self.rows:
            repeated = self.rows - self.distinct_rows
            repeats = f" ({plural(repeated, 'repeated text')} sent once)"
        return (
            f"{plural(self.rows, 'row')}{repeats} in {plural(self.requests, 'request')}, "
            f"{plural(self.files, 'file')}; "
            f"~{plural(self.estimated_tokens, 'token')} (estimate, usually high): "
            f"~{self.batch_cost_cny:.4f} CNY at the batch price "
            f"(~{self.realtime_cost_cny:.4f} CNY real-time)"
        )


@dataclass(frozen=True)
class BatchResult:
    """The end of a run: how many rows have vectors, which do not and why, and the cost.

    A row without a vector is NaN in an array or ``.npy`` sink and null in Parquet."""

    rows: int
    stored_rows: int
    failures: list[RowFailure]
    usage: Usage
    uploads: int
    jobs: int
    sink: Sink

    @property
    def complete(self) -> bool:
        return self.stored_rows == self.rows and not self.failures

    def write_failures(self, path: str | Path) -> Path:
        """The failed rows as JSON lines ``{"row", "reason"}`` (``read_failures`` reads them)."""
        target = Path(path)
        with target.open("wb") as handle:
            for failure in self.failures:
                handle.write(orjson.dumps({"row": failure.row, "reason": failure.reason}) + b"\n")
        return target


def read_failures(path: str | Path) -> list[RowFailure]:
    """The rows ``BatchResult.write_failures`` (or ``batch run --failures``) wrote."""
    with Path(path).open("rb") as handle:
        return [RowFailure(**orjson.loads(line)) for line in handle if line.strip()]


def texts_in_row_order(manifest: Manifest) -> Iterator[str]:
    """A run's texts in row order: the distinct texts from its original request files, the
    rows repeating one from the manifest's copies."""
    copies = manifest.copy_texts()
    next_copy = next(copies, None)
    row = 0
    for text in _unit_texts(manifest):
        while next_copy is not None and next_copy[0] == row:
            yield next_copy[1]
            row += 1
            next_copy = next(copies, None)
        yield text
        row += 1
    while next_copy is not None:
        yield next_copy[1]
        next_copy = next(copies, None)


def _unit_texts(manifest: Manifest) -> Iterator[str]:
    # Original files hold every request in order; follow-ups only copies.
    for record in manifest.files():
        if "-part-" not in record.name:
            continue
        for _, line in read_lines(record.path):
            body = orjson.loads(line)["body"]
            yield from body["input"]
