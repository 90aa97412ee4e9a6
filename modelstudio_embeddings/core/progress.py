"""Per-row (and the Batch API's per-request) progress bars: tqdm's plain text bar, a no-op when
switched off.

A text bar, not a Jupyter widget: a widget needs ``ipywidgets`` and a front end that loads its
JavaScript (from a CDN that is slow or unreachable from mainland China), and it vanishes from
a notebook that is saved, exported or rendered elsewhere, leaving ``0%`` or nothing. A text bar
is a stream output: its final state stays in the saved notebook, in an exported HTML or PDF,
in CI logs and in a terminal alike. Setting ``MODELSTUDIO_PROGRESS=auto`` asks for tqdm's
``tqdm.auto`` instead (a widget in Jupyter where ``ipywidgets`` is installed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["PROGRESS_ENV", "new_bar", "progress_bar"]

PROGRESS_ENV = "MODELSTUDIO_PROGRESS"
"""``auto`` (or ``widget``): tqdm.auto's bar, a widget in Jupyter; anything else, or unset:
tqdm's plain text bar."""

_WIDGET_CHOICES = ("auto", "widget", "notebook")


def new_bar(total: int | None, description: str, unit: str) -> tqdm[Any]:
    """A tqdm bar: the plain text one, unless ``MODELSTUDIO_PROGRESS=auto`` asks for
    ``tqdm.auto``'s (a widget in Jupyter)."""
    chosen: type[tqdm[Any]]
    if os.environ.get(PROGRESS_ENV, "").strip().lower() in _WIDGET_CHOICES:
        import tqdm.auto  # imported only when asked: in Jupyter it loads the widget machinery

        chosen = tqdm.auto.tqdm
    else:
        import tqdm as text

        chosen = text.tqdm
    return chosen(total=total, desc=description, unit=unit, dynamic_ncols=True)


@contextmanager
def progress_bar(
    enabled: bool, total: int, description: str = "Embedding"
) -> Iterator[Callable[[int], None] | None]:
    """Yield a callback that advances a bar by rows done, or None when disabled or when
    there is nothing to count (an empty call draws no bar)."""
    if not enabled or total == 0:
        yield None
        return
    with new_bar(total, description, "row") as bar:

        def advance(rows: int) -> None:
            bar.update(rows)

        yield advance
