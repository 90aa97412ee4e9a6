"""Deterministic benchmark texts of about forty words from a fixed vocabulary."""

from __future__ import annotations

import random

_VOCABULARY = (
    "shipment customs invoice warehouse pallet container freight harbour vessel manifest "
    "delivery courier parcel tracking route driver depot loading unloading forklift inventory "
    "order supplier contract pricing tariff duty clearance broker insurance claim damage "
    "temperature logger cold chain pharmaceutical perishable schedule delay port terminal "
    "berth crane truck rail airport cargo booking quote payment currency exchange audit"
).split()


def make_texts(rows: int, *, seed: int = 0, words: int = 40) -> list[str]:
    """``rows`` texts, each ``words`` words long, the same for the same seed."""
    rng = random.Random(seed)
    return [
        f"record {i}: " + " ".join(rng.choice(_VOCABULARY) for _ in range(words - 2))
        for i in range(rows)
    ]
