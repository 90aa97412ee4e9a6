"""A per-row progress bar (tqdm, notebook-aware) that is a no-op when switched off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(
    enabled: bool, total: int, description: str = "Embedding"
) -> Iterator[Callable[[int], None] | None]:
    """Yield a callback that advances a bar by rows done, or None when disabled or when
    there is nothing to count (an empty call draws no bar)."""
    if not enabled or total == 0:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=description, unit="row", dynamic_ncols=True) as bar:

        def advance(rows: int) -> None:
            bar.update(rows)

        yield advance
