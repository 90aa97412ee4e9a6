"""``EmbedBatch``, a callable class for Ray Data's ``Dataset.map_batches``, and
``RayBudget``, one rate budget for every worker of the cluster.

``map_batches`` builds one ``EmbedBatch`` per actor, so each actor builds its client (its
connections, its threads) once and reuses it for every batch. Only settings travel to the
workers: the key is read from ``DASHSCOPE_API_KEY`` in each worker's environment, never passed
in ``fn_constructor_kwargs`` (which Ray pickles into the task graph). Needs the ``ray`` extra
(``pip install "modelstudio-embeddings[ray]"``); the rest of the package never imports ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..core.budgets import RayBudget
from ..core.errors import (
    ConfigurationError,
    ContentInspectionError,
    InputTooLongError,
    InvalidInputError,
    ModelStudioError,
)
from ..embeddings.client import EmbeddingClient
from ..embeddings.settings import ClientSettings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ROW_ERRORS", "EmbedBatch", "OnError", "RayBudget"]

ROW_ERRORS: tuple[type[ModelStudioError], ...] = (
    ContentInspectionError,
    InputTooLongError,
    InvalidInputError,
)
"""The refusals that are a row's own (moderation, too long or empty, not a string): what
``on_error="null"`` turns into a null vector; any other failure raises."""

OnError = Literal["raise", "null"]
"""What ``EmbedBatch`` does with a row the service refuses (moderation, too long, empty)."""

Batch = TypeVar("Batch")
"""A batch of Ray Data: a ``pyarrow.Table``, a ``pandas.DataFrame`` or a dict of numpy arrays."""


class EmbedBatch:
    """Embeds a batch's text column into a vector column; for ``Dataset.map_batches``.

    ``ds.map_batches(EmbedBatch, fn_constructor_kwargs={"dimensions": 256, "rate_budget":
    RayBudget()}, compute=ray.data.ActorPoolStrategy(size=4), batch_size=500,
    batch_format="pyarrow")`` adds a column of
    fixed-width float32 vectors, row i the vector of row i's text. Every batch format of Ray
    Data is served and answered in kind:

    - ``"pyarrow"``: a ``fixed_size_list<float32>[dimensions]`` column, null where a row failed;
    - ``"numpy"`` (and ``"default"``): a 2-D float32 array, NaN rows where a row failed
      (numpy has no null);
    - ``"pandas"``: a column of 1-D float32 arrays, all NaN where a row failed (Ray Data casts
      the column to its fixed-shape tensor type, which holds no None).

    Args:
        settings: A ``ClientSettings``, or pass its fields as keyword arguments instead
            (``model``, ``dimensions``, ``base_url``, ``rate_limit``, ``rate_budget``, ...).
            Never a key: each worker reads ``DASHSCOPE_API_KEY`` from its environment.
        text_column: The column holding the texts.
        vector_column: The column written with the vectors (replaced if it exists).
        error_column: With ``on_error="null"``: the column written with the reason a row has
            no vector (null for rows embedded), in every batch so the schema is stable.
        on_error: ``"raise"`` fails the batch (and the job) on any row the service refuses;
            ``"null"`` writes a null vector and the reason for each such row and keeps every
            other row's vector, so one moderated chunk does not end a long job. Failures that
            are not a row's (a bad key, an overdue account, 429s or 5xx past the retries) raise
            under either policy: they would null every row.
        text_type: ``"document"`` or ``"query"`` (native protocol, v3 and v4).
        **client_settings: The fields of ``ClientSettings``, when ``settings`` is not given.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        text_column: str = "text",
        vector_column: str = "embedding",
        error_column: str = "embedding_error",
        on_error: OnError = "raise",
        text_type: str | None = None,
        **client_settings: Any,
    ) -> None:
        if "api_key" in client_settings:
            raise ConfigurationError(
                "EmbedBatch takes no api_key: its arguments are pickled into Ray's task graph. "
                "Set DASHSCOPE_API_KEY in the workers' environment instead."
            )
        if settings is not None and client_settings:
            raise ConfigurationError("Pass settings or its fields as keywords, not both.")
        if on_error not in ("raise", "null"):
            raise ConfigurationError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
        self.settings = settings or ClientSettings(**client_settings)
        self.text_column = text_column
        self.vector_column = vector_column
        self.error_column = error_column
        self.on_error: OnError = on_error
        self.text_type = text_type
        self.client = EmbeddingClient.from_settings(self.settings)
        """The actor's client, built once: its ``usage`` counts every batch of the actor."""

    def __call__(self, batch: Batch) -> Batch:
        """The batch with the vector column (and the error column under ``on_error="null"``)."""
        if isinstance(batch, pa.Table):
            return cast(Batch, self._arrow(batch))
        if isinstance(batch, dict):
            return cast(Batch, self._numpy(batch))
        if type(batch).__name__ == "DataFrame":
            return cast(Batch, self._pandas(batch))
        raise TypeError(f"EmbedBatch takes a pyarrow, numpy or pandas batch, not {type(batch)}")

    def embed(
        self, texts: Sequence[str | None]
    ) -> tuple[npt.NDArray[np.float32], list[str | None]]:
        """The vectors of ``texts`` (NaN rows where a row failed) and each row's failure
        reason (None where embedded). Under ``on_error="raise"`` a refused row raises."""
        width = self.client.dimensions
        vectors = np.full((len(texts), width), np.nan, dtype=np.float32)
        reasons: list[str | None] = [None] * len(texts)
        pending: list[int] = []
        for i, text in enumerate(texts):
            if isinstance(text, str):
                pending.append(i)
            elif self.on_error == "raise":
                raise ConfigurationError(f"Row {i} of the batch has no text (got {text!r}).")
            else:
                reasons[i] = "no text"
        # Each refusal names at least one row, so this ends within len(pending) rounds.
        while pending:
            try:
                vectors[pending] = self._embed([texts[i] for i in pending])  # type: ignore[misc]
                break
            except ROW_ERRORS as error:
                if self.on_error == "raise" or not error.indices:
                    raise
                pending = self._keep(error, pending, vectors, reasons)
        return vectors, reasons

    def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if self.text_type is None:
            return self.client.embed(texts)
        return self.client.embed(texts, text_type=self.text_type)

    @staticmethod
    def _keep(
        error: ModelStudioError,
        pending: list[int],
        vectors: npt.NDArray[np.float32],
        reasons: list[str | None],
    ) -> list[int]:
        """Record the refused rows' reason and the vectors the call did get; the rows left."""
        code = f" ({error.code})" if error.code else ""
        reason = f"{type(error).__name__}{code}: {error.message}"
        refused = {pending[k] for k in error.indices or ()}
        for row in refused:
            reasons[row] = reason
        done = set(refused)
        if error.partial is not None:
            for k, vector in zip(error.partial.indices, error.partial.vectors, strict=True):
                vectors[pending[k]] = vector
                done.add(pending[k])
        return [row for row in pending if row not in done]

    # --- the batch formats ---------------------------------------------------------------------

    def _arrow(self, batch: pa.Table) -> pa.Table:
        vectors, reasons = self.embed(batch.column(self.text_column).to_pylist())
        failed = np.array([r is not None for r in reasons], dtype=bool)
        values = pa.array(vectors.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(
            values, self.client.dimensions, mask=pa.array(failed)
        )
        batch = _set_column(batch, self.vector_column, column)
        if self.on_error == "null":
            batch = _set_column(batch, self.error_column, pa.array(reasons, type=pa.string()))
        return batch

    def _numpy(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        vectors, reasons = self.embed(list(batch[self.text_column]))
        out = dict(batch)
        out[self.vector_column] = vectors
        if self.on_error == "null":
            out[self.error_column] = np.array(reasons, dtype=object)
        return out

    def _pandas(self, batch: pd.DataFrame) -> pd.DataFrame:
        texts = [t if isinstance(t, str) else None for t in batch[self.text_column]]
        vectors, reasons = self.embed(texts)
        out = batch.copy()
        out[self.vector_column] = list(vectors)
        if self.on_error == "null":
            out[self.error_column] = reasons
        return out

    def __repr__(self) -> str:
        return (
            f"EmbedBatch(model={self.settings.model!r}, text_column={self.text_column!r}, "
            f"vector_column={self.vector_column!r}, on_error={self.on_error!r})"
        )


def _set_column(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    index = table.schema.get_field_index(name)
    if index >= 0:
        return table.set_column(index, name, column)
    return table.append_column(name, column)
