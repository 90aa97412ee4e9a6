"""Copies and pickles of the LangChain classes: a pickle never holds the key (the copy reads
``DASHSCOPE_API_KEY`` where it is unpickled); a copy in memory keeps it."""

from __future__ import annotations

import os
from copy import deepcopy
from typing import Any

from typing_extensions import Self

from modelstudio_embeddings import ConfigurationError

__all__ = ["KeylessPickling"]


class KeylessPickling:
    """Mixed into a pydantic model with an ``api_key`` field, built from its fields alone."""

    def __getstate__(self) -> dict[Any, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        return {"fields": fields}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        if not os.environ.get("DASHSCOPE_API_KEY"):
            raise ConfigurationError(
                f"An unpickled {type(self).__name__} reads its key from DASHSCOPE_API_KEY (keys "
                "are never pickled); set it before unpickling."
            )
        self.__init__(**state["fields"])  # type: ignore[misc]

    def __copy__(self) -> Self:
        return type(self)(**self.__dict__)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        return type(self)(**deepcopy(dict(self.__dict__), memo))
