"""Token counting for the per-row limit: exact with the Qwen tokenizer, else a safe estimate.

The ``dashscope`` package ships the Qwen BPE file (install the ``tokenizer`` extra); without
it, ``planning.estimate_tokens`` over-counts ordinary text so no row is sent over the limit.
Both can cut a row down to the limit at a token boundary for ``on_too_long="truncate"``.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from .planning import PIECES, estimate_tokens

__all__ = [
    "TOKENIZERS",
    "EstimatingCounter",
    "LazyCounter",
    "QwenCounter",
    "TokenCounter",
    "token_counter",
]

TOKENIZERS = ("auto", "qwen", "estimate")
"""How rows are counted against the token limit (the ``tokenizer`` setting)."""

# One check found the service's count equal to the Qwen count plus one per row.
ROW_OVERHEAD = 1


class TokenCounter(Protocol):
    """Counts a row's tokens as the service will, and cuts a row down to a number of tokens."""

    exact: bool

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str: ...


class EstimatingCounter:
    """The conservative estimate; truncation cuts between the estimate's pieces."""

    exact = False

    def count(self, text: str) -> int:
        return estimate_tokens(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        total = 0
        end = 0
        for match in PIECES.finditer(text):
            piece = match.group()
            cost = -(-len(piece) // 3) if piece[0].isascii() and piece[0].isalpha() else len(piece)
            if total + cost > max_tokens:
                if cost > 1 and total < max_tokens:  # a long run: keep the part that fits
                    per_token = 3 if piece[0].isascii() and piece[0].isalpha() else 1
                    end = match.start() + (max_tokens - total) * per_token
                break
            total += cost
            end = match.end()
        return text[:end]


class QwenCounter:
    """Exact counts with the Qwen BPE file that the ``dashscope`` package ships."""

    exact = True

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text)) + ROW_OVERHEAD

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self._tokenizer.encode(text)[: max(0, max_tokens - ROW_OVERHEAD)]
        # A cut inside a multi-byte character decodes to U+FFFD, and the tokenizer's NFC
        # normalisation can change characters: give back tokens until the cut is a prefix.
        for keep in range(len(ids), -1, -1):
            cut: str = self._tokenizer.decode(ids[:keep]).rstrip("\ufffd")
            if text.startswith(cut):
                return cut
        return ""


@functools.cache
def _qwen() -> QwenCounter | None:
    try:
        from dashscope import get_tokenizer  # type: ignore[import-not-found,unused-ignore]

        return QwenCounter(get_tokenizer("qwen-turbo"))
    except Exception:  # not installed, or its BPE file or tiktoken is missing
        return None


class LazyCounter:
    """Chooses the counter on first use: loading the Qwen BPE takes about two seconds, and only
    rows of more than 2,000 characters ever need counting."""

    def __init__(self, tokenizer: str) -> None:
        if tokenizer not in ("auto", "estimate", "qwen"):
            from .errors import ConfigurationError

            raise ConfigurationError(
                f"tokenizer must be 'auto', 'estimate' or 'qwen', got {tokenizer!r}."
            )
        self._name = tokenizer
        self._counter: TokenCounter | None = None

    @property
    def resolved(self) -> TokenCounter:
        if self._counter is None:
            self._counter = token_counter(self._name)
        return self._counter

    @property
    def exact(self) -> bool:
        return self.resolved.exact

    def count(self, text: str) -> int:
        return self.resolved.count(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        return self.resolved.truncate(text, max_tokens)


def token_counter(tokenizer: str = "auto") -> TokenCounter:
    """``"auto"``: exact when the ``tokenizer`` extra is installed; ``"estimate"``; ``"qwen"``."""
    if tokenizer == "estimate":
        return EstimatingCounter()
    exact = _qwen()
    if exact is not None:
        return exact
    if tokenizer == "qwen":
        from .errors import ConfigurationError

        raise ConfigurationError(
            "tokenizer='qwen' needs the Qwen tokenizer: "
            "pip install 'modelstudio-embeddings[tokenizer]'."
        )
    return EstimatingCounter()
