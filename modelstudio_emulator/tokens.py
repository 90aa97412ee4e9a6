"""The emulator's token count (pure): close to the Qwen tokenizer's for ordinary text.

ASCII letter runs count one token per four letters, digits one each, runs of other letters
(CJK and the like) one token per 1.5 characters, ASCII punctuation one each, whitespace none.
The client's own estimate is never below this, so a row it accepts is never refused here.
"""

from __future__ import annotations

import re

__all__ = ["count_tokens", "usage_tokens"]

_PIECES = re.compile(r"[A-Za-z]+|[0-9]|[^\x00-\x7f\s]+|[!-/:-@\[-`{-~]")


def count_tokens(text: str) -> int:
    """Tokens in one row, as the emulator's limit check sees them."""
    tokens = 0
    for piece in _PIECES.findall(text):
        first = piece[0]
        if first.isascii() and first.isalpha():
            tokens += -(-len(piece) // 4)
        elif first.isascii():
            tokens += len(piece)
        else:
            tokens += -(-len(piece) * 2 // 3)
    return tokens


def usage_tokens(texts: list[str]) -> int:
    """What ``usage.prompt_tokens`` reports: the count plus one a row."""
    return sum(count_tokens(t) + 1 for t in texts)
