"""Opt-in checks against the real service: they run only when DASHSCOPE_API_KEY is set
(with DASHSCOPE_BASE_URL or the Beijing default) and are skipped everywhere else."""

from __future__ import annotations

import os

import numpy as np
import pytest

import modelstudio_embeddings as mse

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("DASHSCOPE_API_KEY"), reason="DASHSCOPE_API_KEY is not set"
    ),
]


def test_real_service_returns_one_finite_vector_per_row_in_order() -> None:
    with mse.EmbeddingClient("text-embedding-v4", dimensions=256) as client:
        texts = [f"live check row {i}" for i in range(12)]
        vectors = client.embed(texts)
        assert vectors.shape == (12, 256)
        assert np.isfinite(vectors).all()
        assert np.allclose(vectors[3], client.embed([texts[3]])[0], atol=1e-3)
        assert client.usage.prompt_tokens > 0


async def test_real_service_async_path_agrees_with_sync() -> None:
    async with mse.EmbeddingClient("text-embedding-v4", dimensions=256) as client:
        got = await client.aembed(["hello", "world"])
        assert got.shape == (2, 256)


def test_real_service_names_the_host_on_a_wrong_key() -> None:
    client = mse.EmbeddingClient(api_key="sk-definitely-wrong")
    with pytest.raises(mse.AuthenticationError, match="region"):
        client.embed(["hello"])
