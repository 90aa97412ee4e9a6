"""The Ray pieces without a Ray cluster: ``RayBudget`` as a setting everywhere, ray imported
only when used, and ``EmbedBatch`` called directly on batches of each format."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from langchain_modelstudio import ModelStudioEmbeddings
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import (
    ConfigurationError,
    ContentInspectionError,
    EmbeddingClient,
    RateLimit,
    RayBudget,
)
from modelstudio_embeddings.embeddings.settings import ClientSettings
from modelstudio_embeddings.ray import EmbedBatch
from modelstudio_emulator import Emulator
from modelstudio_emulator.vectors import embed_texts


def test_the_core_and_the_adapters_do_not_import_ray() -> None:
    code = (
        "import sys, pickle\n"
        "import modelstudio_embeddings as m, langchain_modelstudio, llama_index_modelstudio\n"
        "s = m.embeddings.settings.ClientSettings(rate_budget=m.RayBudget(name='b'))\n"
        "pickle.loads(pickle.dumps(s))\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", "import modelstudio_embeddings.embeddings.settings\n" + code],
        check=True,
    )


def test_ray_budget_is_a_rate_budget_of_the_core_and_both_adapters() -> None:
    budget = RayBudget(name="shared", namespace="jobs", detached=True)
    assert ClientSettings(rate_budget=budget).rate_budget == budget
    lc = ModelStudioEmbeddings(api_key="sk-x", rate_budget=budget)  # type: ignore[arg-type]
    li = ModelStudioEmbedding(api_key="sk-x", rate_budget=budget)
    assert lc.rate_budget == li.rate_budget == budget
    with pytest.raises(ConfigurationError, match="RayBudget"):
        ClientSettings(rate_budget="modelstudio-budget")  # type: ignore[arg-type]


def test_a_client_with_a_ray_budget_pickles_without_the_key() -> None:
    client = EmbeddingClient(api_key="sk-ray-canary-7", rate_budget=RayBudget())
    data = pickle.dumps(client)
    assert b"sk-ray-canary-7" not in data
    client.close()


def test_embed_batch_takes_no_key() -> None:
    with pytest.raises(ConfigurationError, match="DASHSCOPE_API_KEY"):
        EmbedBatch(api_key="sk-nope")
    with pytest.raises(ConfigurationError, match="on_error"):
        EmbedBatch(on_error="skip")  # type: ignore[arg-type]


@pytest.fixture
def embed_batch(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> EmbedBatch:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)  # as on a worker
    return EmbedBatch(
        ClientSettings(base_url=emulator.base_url, dimensions=64, rate_limit=RateLimit(6000)),
        on_error="null",
        vector_column="vector",
    )


TEXTS = ["one clean row", "[[BLOCKED]] refused", None, "", "another clean row"]


def test_null_policy_on_arrow_keeps_every_other_row(embed_batch: EmbedBatch) -> None:
    out = embed_batch(pa.table({"text": TEXTS, "n": range(5)}))
    assert out.column_names == ["text", "n", "vector", "embedding_error"]
    assert out.schema.field("vector").type == pa.list_(pa.float32(), 64)
    assert out.column("vector").to_pylist()[1:4] == [None, None, None]
    errors = out.column("embedding_error").to_pylist()
    assert errors[0] is None and errors[4] is None
    assert errors[1].startswith("ContentInspectionError")
    assert errors[2] == "no text"
    assert errors[3].startswith("InputTooLongError")  # an empty row
    got = np.asarray(out.column("vector").to_pylist()[::4], dtype=np.float32)
    np.testing.assert_array_equal(got, embed_texts(["one clean row", "another clean row"], 64))


def test_numpy_and_pandas_batches_get_nan_rows(embed_batch: EmbedBatch) -> None:
    texts = np.array(["a row", "[[BLOCKED]] no", "b row"], dtype=object)
    out = embed_batch({"text": texts})
    assert out["vector"].shape == (3, 64) and out["vector"].dtype == np.float32
    assert np.isnan(out["vector"][1]).all() and not np.isnan(out["vector"][[0, 2]]).any()
    frame = embed_batch(pd.DataFrame({"text": list(texts)}))
    np.testing.assert_array_equal(np.vstack(frame["vector"]), out["vector"])
    assert frame["embedding_error"].notna().tolist() == [False, True, False]


def test_raise_policy_raises_the_core_error(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    embed = EmbedBatch(base_url=emulator.base_url, dimensions=64)
    with pytest.raises(ContentInspectionError) as caught:
        embed(pa.table({"text": ["fine", "[[BLOCKED]] no"]}))
    assert caught.value.indices == (1,)
    assert "embedding_error" not in embed(pa.table({"text": ["fine"]})).column_names
