"""Where a batch run's vectors go: a float32 array in memory, a ``.npy`` memory map, Parquet.

Rows arrive in whatever order the service finishes them; a sink takes a block of rows at their
position and, on ``flush``, makes what it holds durable. Only after a flush does the run mark
those rows stored in its manifest, so a crash can lose work but never a row. ``open`` says
whether the sink starts empty (a new array or file): the run then downloads again (free) what
the manifest says was stored. Every sink shows a row without a vector the same way: NaN in an
array or ``.npy`` (a new one starts all NaN), null in Parquet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["ArraySink", "NpySink", "ParquetSink", "Sink"]


class Sink(Protocol):
    """What a batch run writes to."""

    def open(self, rows: int, width: int) -> bool:
        """Make room for ``rows`` vectors of ``width``; True when it starts empty (it holds
        nothing written before this call). Called more than once in a run."""

    def write(self, start: int, vectors: npt.NDArray[np.float32]) -> None:
        """Put rows ``start .. start + len(vectors)``."""

    def flush(self) -> None:
        """Make every row written so far durable."""

    def close(self, texts: Any | None = None) -> None:
        """Finish; ``texts`` (an iterable of the rows' texts, in order) for sinks that keep them."""


class ArraySink:
    """A float32 array in memory (``.array``): rows are fetched again after a restart."""

    def __init__(self) -> None:
        self.array: npt.NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)

    def open(self, rows: int, width: int) -> bool:
        if self.array.shape == (rows, width):
            return False
        self.array = np.full((rows, width), np.nan, dtype=np.float32)
        return True

    def write(self, start: int, vectors: npt.NDArray[np.float32]) -> None:
        self.array[start : start + len(vectors)] = vectors

    def flush(self) -> None:
        pass

    def close(self, texts: Any | None = None) -> None:
        pass


class NpySink:
    """A ``.npy`` file opened as a memory map: corpora larger than RAM, reopened on resume."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.array: np.memmap[Any, np.dtype[np.float32]] | None = None

    def open(self, rows: int, width: int) -> bool:
        from numpy.lib.format import open_memmap

        if self.array is not None and self.array.shape == (rows, width):
            return False
        if self.path.exists():
            existing = open_memmap(self.path, mode="r+")
            if existing.shape == (rows, width) and existing.dtype == np.float32:
                self.array = existing
                return False
            raise ValueError(
                f"{self.path} holds {existing.shape} {existing.dtype}, not ({rows}, {width}) "
                "float32: another run's output? Choose another path."
            )
        self.array = open_memmap(self.path, mode="w+", dtype=np.float32, shape=(rows, width))
        step = max(1, (64 << 20) // max(1, width * 4))  # NaN in 64 MB blocks: bounded memory
        for start in range(0, rows, step):
            self.array[start : start + step] = np.nan
        self.array.flush()
        return True

    def write(self, start: int, vectors: npt.NDArray[np.float32]) -> None:
        assert self.array is not None, "open() first"
        self.array[start : start + len(vectors)] = vectors

    def flush(self) -> None:
        if self.array is not None:
            self.array.flush()

    def close(self, texts: Any | None = None) -> None:
        self.flush()
        self.array = None


class ParquetSink:
    """A Parquet file ``(id, text?, vector)`` (the ``parquet`` extra, pyarrow), written in row
    order whenever a run ends from a ``.npy`` memory map kept next to it until every row has
    a vector (a resumed run continues from it); a row without one has a null vector."""

    def __init__(self, path: str | Path, *, with_text: bool = True, row_group: int = 8192):
        self.path = Path(path)
        self.with_text = with_text
        self.row_group = row_group
        self._staging = NpySink(self.path.with_name(self.path.name + ".staging.npy"))

    def open(self, rows: int, width: int) -> bool:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "ParquetSink needs pyarrow: pip install 'modelstudio-embeddings[parquet]'"
            ) from exc
        return self._staging.open(rows, width)

    def write(self, start: int, vectors: npt.NDArray[np.float32]) -> None:
        self._staging.write(start, vectors)

    def flush(self) -> None:
        self._staging.flush()

    def close(self, texts: Any | None = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        array = self._staging.array
        if array is None:
            return
        rows, width = array.shape
        text_iter = iter(texts) if (self.with_text and texts is not None) else None
        fields = [pa.field("id", pa.int64())]
        if text_iter is not None:
            fields.append(pa.field("text", pa.string()))
        fields.append(pa.field("vector", pa.list_(pa.float32(), width)))
        schema = pa.schema(fields)
        complete = True
        with pq.ParquetWriter(self.path, schema) as writer:
            for start in range(0, rows, self.row_group):
                stop = min(start + self.row_group, rows)
                rows_block = np.ascontiguousarray(array[start:stop])
                missing = np.isnan(rows_block).any(axis=1)
                complete = complete and not missing.any()
                columns: list[Any] = [pa.array(np.arange(start, stop, dtype=np.int64))]
                if text_iter is not None:
                    columns.append(pa.array([next(text_iter) for _ in range(stop - start)]))
                vectors = pa.FixedSizeListArray.from_arrays(
                    pa.array(rows_block.reshape(-1)), width, mask=pa.array(missing)
                )
                columns.append(vectors)
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
        self._staging.close()
        if complete:
            self._staging.path.unlink(missing_ok=True)
