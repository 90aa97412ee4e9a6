"""Dimensions and models per region (issue "The open slot"): Singapore's v3 offers 1024, 768
and 512 only, so 256 is refused there before any request, and accepted in Beijing; v2 is
refused on Singapore's host; a gateway's host is not assumed to be in any region. Through the
core and both adapters (their clients are built the same way)."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_modelstudio import ModelStudioEmbeddings
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import ConfigurationError, EmbeddingClient
from modelstudio_emulator import Emulator


def build(entry: str, model: str, **kwargs: Any) -> object:
    kwargs.setdefault("api_key", "sk-region-test")
    if entry == "core":
        return EmbeddingClient(model, **kwargs)
    if entry == "langchain":
        return ModelStudioEmbeddings(model=model, **kwargs)
    return ModelStudioEmbedding(model_name=model, **kwargs)


ENTRIES = ["core", "langchain", "llama_index"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_v3_on_a_singapore_host_refuses_256_and_beijing_accepts_it(entry: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"ap-southeast-1 offers dimensions 1024, 768, 512"
    ):
        build(entry, "text-embedding-v3", dimensions=256, region="ap-southeast-1")
    with pytest.raises(ConfigurationError, match="ap-southeast-1"):
        build(
            entry,
            "text-embedding-v3",
            dimensions=128,
            base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        )
    build(entry, "text-embedding-v3", dimensions=512, region="ap-southeast-1")
    build(entry, "text-embedding-v3", dimensions=256, region="cn-beijing")


@pytest.mark.parametrize("entry", ENTRIES)
def test_v2_on_singapores_shared_host_is_refused(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="cn-beijing only"):
        build(entry, "text-embedding-v2", region="ap-southeast-1")
    build(entry, "text-embedding-v2", region="cn-beijing")


def test_a_host_of_unknown_region_is_not_assumed_to_be_limited(emulator: Emulator) -> None:
    with EmbeddingClient(
        "text-embedding-v3", dimensions=256, api_key=emulator.api_key, base_url=emulator.base_url
    ) as client:
        assert client.embed(["a gateway forwards anywhere"]).shape == (1, 256)
    assert len(emulator.log) == 1
