"""Deterministic, meaningful vectors for the emulator (pure). NOT the real model's vectors.

Each word (and each CJK character and character pair) maps to a fixed pseudo-random Gaussian
vector seeded by a stable hash; a text is the sum of its words' vectors with sublinear term
weights. Texts that share words are therefore closer than texts that do not. A smaller
``dimensions`` is the prefix of the full vector, renormalised. Query and document vectors of
one text differ slightly (``text_type``), deterministically. v1 vectors are deliberately not
unit length, as the real v1's are not. Rows are cached (read-only), so a server that sees the
same texts again, as in a benchmark, spends no CPU on them.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter

import numpy as np
import numpy.typing as npt

__all__ = ["FULL_WIDTH", "embed_text", "embed_texts", "sparse_terms", "terms"]

FULL_WIDTH = 2048
_WORD = re.compile(r"[a-z0-9]+|[^\x00-\x7f\s\W]|[\u4e00-\u9fff]", re.IGNORECASE)
_CJK = re.compile(r"[\u3400-\u9fff]")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the their "
    "this to was were what when where which who will with you your do does can my".split()
)


def terms(text: str) -> list[str]:
    """Lower-cased words, minus a few stopwords; CJK as characters and character pairs."""
    words = [w.lower() for w in _WORD.findall(text)]
    out = [w for w in words if w not in _STOPWORDS and not _CJK.fullmatch(w)]
    cjk = [w for w in words if _CJK.fullmatch(w)]
    out += cjk
    out += [a + b for a, b in zip(cjk, cjk[1:], strict=False)]
    return out


def _seed(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


@functools.lru_cache(maxsize=65536)
def _term_vector(token: str) -> npt.NDArray[np.float64]:
    vector = np.random.default_rng(_seed(token)).standard_normal(FULL_WIDTH)
    vector.setflags(write=False)
    return vector


def _full(text: str, text_type: str, instruct: str | None) -> npt.NDArray[np.float64]:
    counts = Counter(terms(text))
    if not counts:
        return _term_vector("\x00text:" + text).copy()
    total = np.zeros(FULL_WIDTH)
    for token, tf in counts.items():
        total += (1.0 + math.log(tf)) * _term_vector(token)
    if text_type == "query":
        total += 0.15 * np.linalg.norm(total) / math.sqrt(FULL_WIDTH) * _term_vector("\x00query")
    if instruct:
        total += 0.05 * np.linalg.norm(total) / math.sqrt(FULL_WIDTH) * _term_vector(instruct)
    return total


@functools.lru_cache(maxsize=8192)
def embed_text(
    text: str,
    dimensions: int,
    *,
    model: str = "text-embedding-v4",
    text_type: str = "document",
    instruct: str | None = None,
) -> npt.NDArray[np.float32]:
    """One text's vector of width ``dimensions``: unit length, except for v1 (read-only)."""
    prefix = _full(text, text_type, instruct)[:dimensions]
    vector = prefix / (np.linalg.norm(prefix) or 1.0)
    if model == "text-embedding-v1":
        vector = vector * (1.5 + (_seed(text) % 1000) / 666.0)
    row = vector.astype(np.float32)
    row.setflags(write=False)
    return row


def embed_texts(
    texts: list[str],
    dimensions: int,
    *,
    model: str = "text-embedding-v4",
    text_type: str = "document",
    instruct: str | None = None,
) -> npt.NDArray[np.float32]:
    """Rows of ``embed_text`` for every text."""
    return (
        np.vstack(
            [
                embed_text(t, dimensions, model=model, text_type=text_type, instruct=instruct)
                for t in texts
            ]
        )
        if texts
        else np.empty((0, dimensions), dtype=np.float32)
    )


def sparse_terms(text: str) -> list[dict[str, object]]:
    """A sparse vector in the native format: one entry per distinct term, weight by frequency."""
    counts = Counter(terms(text))
    return [
        {"index": _seed(token) % 250_000, "value": round(1.0 + math.log(tf), 4), "token": token}
        for token, tf in sorted(counts.items())
    ]
