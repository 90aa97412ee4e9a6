"""The model tables in the README and the docs say what ``modelstudio_embeddings.MODELS`` says,
so a change to the model table that the docs miss fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelstudio_embeddings import MODELS, REGIONS, ModelSpec

ROOT = Path(__file__).resolve().parent.parent

MODELS_COLUMNS = [
    "model",
    "dimensions (default first)",
    "rows per request",
    "tokens per row",
    "CNY per 1K tokens (batch API)",
    "documented regions",
]
PRICES_COLUMNS = [
    "model",
    "Beijing, CNY per million tokens",
    "Beijing Batch API, CNY per million tokens",
    "Singapore, USD per million tokens",
]


def tables(page: Path) -> list[list[list[str]]]:
    """Every Markdown table of a page as rows of cells, the header first, the rule left out."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*page.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def table_with(page: Path, header: list[str]) -> list[list[str]]:
    matching = [table for table in tables(page) if table[0] == header]
    assert len(matching) == 1, f"{page.name}: expected one table headed {header}"
    return matching[0][1:]


def number(value: float) -> str:
    return f"{value:g}"


def models_row(spec: ModelSpec) -> list[str]:
    price = number(spec.price_cny_per_1k_tokens)
    if spec.batch_price_cny_per_1k_tokens is not None:
        price += f" ({number(spec.batch_price_cny_per_1k_tokens)})"
    return [
        spec.name,
        ", ".join(str(width) for width in spec.dimensions),
        f"{spec.rows_per_request:,}",
        f"{spec.tokens_per_row:,}",
        price,
        ", ".join(region for region in REGIONS if region in spec.regions),
    ]


def prices_row(spec: ModelSpec) -> list[str]:
    batch = spec.batch_price_cny_per_1k_tokens
    return [
        spec.name,
        number(spec.price_cny_per_1k_tokens * 1000),
        "" if batch is None else number(batch * 1000),
        "not offered"
        if spec.price_usd_per_1k_tokens is None
        else number(round(spec.price_usd_per_1k_tokens * 1000, 6)),
    ]


@pytest.mark.parametrize("page", ["README.md", "docs/models.md"])
def test_models_table_matches_the_model_table(page: str) -> None:
    assert table_with(ROOT / page, MODELS_COLUMNS) == [models_row(s) for s in MODELS.values()]


def test_prices_table_matches_the_model_table() -> None:
    rows = table_with(ROOT / "docs" / "models.md", PRICES_COLUMNS)
    assert rows == [prices_row(spec) for spec in MODELS.values()]
