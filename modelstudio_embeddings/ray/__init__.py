"""Embedding with Ray Data: ``EmbedBatch``, a callable class for ``Dataset.map_batches``, and
``RayBudget``, one rate budget for every worker of the cluster (``embed_batch`` holds them).

Needs the ``ray`` extra (``pip install "modelstudio-embeddings[ray]"``): importing this
package without pyarrow says so, and so does creating a ``RayBudget`` without ray (``EmbedBatch``
itself runs wherever Ray Data calls it); the rest of the package never imports ray or pyarrow.
"""

from __future__ import annotations

try:
    from .embed_batch import ROW_ERRORS, EmbedBatch, OnError, RayBudget
except ModuleNotFoundError as exc:
    if exc.name not in ("pyarrow", "ray"):
        raise
    raise ModuleNotFoundError(
        f"modelstudio_embeddings.ray needs {exc.name}, which is not installed: "
        'pip install "modelstudio-embeddings[ray]"',
        name=exc.name,
    ) from exc

__all__ = ["ROW_ERRORS", "EmbedBatch", "OnError", "RayBudget"]
