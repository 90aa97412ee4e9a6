"""Copies and pickles of the LlamaIndex classes: rebuilt from their settings, so a pickle never
holds the key (the copy reads ``DASHSCOPE_API_KEY`` where it is unpickled); a copy in memory
keeps it."""

from __future__ import annotations

from copy import deepcopy
from typing import Any, ClassVar, cast

from typing_extensions import Self

__all__ = ["KeylessRebuild"]


class KeylessRebuild:
    """Mixed into a LlamaIndex pydantic class whose key and retry policy are private attributes
    (``_api_key``, ``_retry_policy``) and whose fields rebuild it."""

    unpickled_without: ClassVar[tuple[str, ...]] = ()
    """Fields left out when rebuilding from a pickle (the framework makes them afresh)."""

    _api_key: str | None
    _retry_policy: Any

    def __getstate__(self) -> dict[Any, Any]:
        state = cast(dict[Any, Any], super().__getstate__())  # pydantic's: fields and privates
        state["__pydantic_private__"] = {"_retry_policy": self._retry_policy}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        private = state.get("__pydantic_private__") or {}
        skip = self.unpickled_without
        fields = {k: v for k, v in state["__dict__"].items() if k not in skip}
        self.__init__(retry_policy=private.get("_retry_policy"), **fields)  # type: ignore[misc]

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        fields = deepcopy(dict(self.__dict__), memo)
        return type(self)(api_key=self._api_key, retry_policy=self._retry_policy, **fields)  # type: ignore[call-arg]
