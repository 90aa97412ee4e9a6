"""A multimodal call's items checked before any request, and split into requests within the
model's items (and image bytes) per request (pure: reads no more than each file's first bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..core.errors import InputTooLongError, InvalidInputError
from ..core.planning import Batch, least_tokens, rows_over_limit
from .items import Content, ItemProblem, check_item
from .models import MultimodalSpec

__all__ = ["check_groups", "check_items", "plan_requests"]

_SHOWN = 3
"""Problems spelled out in an error's message (every bad index is on ``indices``)."""


def check_items(items: Iterable[object], spec: MultimodalSpec) -> list[Content]:
    """Every item as a ``Content``; else one InvalidInputError naming each bad item's index
    and why, or an InputTooLongError naming texts over the model's limit for certain."""
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise InvalidInputError(
            f"Expected a list of items, got a single {type(items).__name__}: wrap it in a list."
        )
    contents: list[Content] = []
    problems: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        try:
            contents.append(
                check_item(item, image_bytes=spec.image_bytes, image_formats=spec.image_formats)
            )
        except ItemProblem as problem:
            problems.append((index, str(problem)))
    if problems:
        shown = "; ".join(f"item {i} {why}" for i, why in problems[:_SHOWN])
        more = f" ({len(problems)} bad items in all)" if len(problems) > _SHOWN else ""
        raise InvalidInputError(
            f"{shown[0].upper()}{shown[1:]}{more}. Nothing was sent.",
            indices=[i for i, _ in problems],
            model=spec.name,
        )
    _check_lengths(contents, spec)
    return contents


def check_groups(groups: Iterable[Sequence[object]], spec: MultimodalSpec) -> list[list[Content]]:
    """Each group of items to fuse, checked as ``check_items`` does; a group must hold from one
    to ``items_per_request`` items (errors name the group's index)."""
    checked: list[list[Content]] = []
    for index, group in enumerate(groups):
        if isinstance(group, str | bytes) or not isinstance(group, Sequence):
            raise InvalidInputError(
                f"Group {index} is {type(group).__name__}: each group is a list of items.",
                indices=[index],
            )
        if not 0 < len(group) <= spec.items_per_request:
            raise InvalidInputError(
                f"Group {index} holds {len(group)} items; {spec.name} fuses 1 to "
                f"{spec.items_per_request} items a request.",
                indices=[index],
            )
        try:
            checked.append(check_items(group, spec))
        except (InvalidInputError, InputTooLongError) as error:
            error.message = f"Group {index}: {error.message}"
            error.indices = (index,)
            raise
    return checked


def _check_lengths(contents: list[Content], spec: MultimodalSpec) -> None:
    texts = [c.value if c.kind == "text" and isinstance(c.value, str) else "" for c in contents]
    too_long = rows_over_limit(texts, spec.tokens_per_text, least_tokens)
    if too_long:
        i, n = too_long[0]
        raise InputTooLongError(
            f"Item {i} has at least {n} tokens, over {spec.name}'s limit of "
            f"{spec.tokens_per_text} tokens per text; {len(too_long)} text(s) in all are too "
            "long. Nothing was sent.",
            indices=[row for row, _ in too_long],
            model=spec.name,
        )


def plan_requests(
    sizes: Sequence[int], *, items_per_request: int, bytes_per_request: int | None = None
) -> list[Batch]:
    """Contiguous requests covering every item, each within ``items_per_request`` items and
    (where given) ``bytes_per_request`` image bytes, as few as greedy packing allows; an item
    larger than the byte budget goes alone."""
    if items_per_request < 1:
        raise ValueError("items_per_request must be at least 1")
    batches: list[Batch] = []
    start = 0
    carried = 0
    for i, size in enumerate(sizes):
        full = i - start >= items_per_request or (
            bytes_per_request is not None and carried + size > bytes_per_request
        )
        if full and i > start:
            batches.append(Batch(start, i))
            start, carried = i, 0
        carried += size
    if start < len(sizes):
        batches.append(Batch(start, len(sizes)))
    return batches
