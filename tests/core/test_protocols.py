"""Both wire protocols through one core: the query path really sends ``query``, results agree,
every contract error is the same typed error, and sparse vectors power hybrid search."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import numpy as np
import pytest

import modelstudio_embeddings as mse
from langchain_modelstudio import ModelStudioEmbeddings
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import EmbeddingClient
from modelstudio_emulator import Emulator, Fault
from tests.conftest import FAST_RETRY

MakeClient = Callable[..., EmbeddingClient]
NATIVE = "/api/v1/services/embeddings/text-embedding/text-embedding"


def test_langchain_query_path_sends_query_and_document_path_document(emulator: Emulator) -> None:
    embeddings = ModelStudioEmbeddings(
        api_key=emulator.api_key,  # type: ignore[arg-type]
        base_url=emulator.base_url,
        protocol="native",
        query_instruction="Find the handbook passage that answers the question",
    )
    embeddings.embed_documents(["doc one", "doc two"])
    embeddings.embed_query("a question")
    asyncio.run(embeddings.aembed_query("another question"))
    sent = [(r.path, r.text_type, r.instruct) for r in emulator.log]
    instruction = "Find the handbook passage that answers the question"
    assert sent == [
        (NATIVE, "document", None),
        (NATIVE, "query", instruction),
        (NATIVE, "query", instruction),
    ]


def test_llama_index_query_path_sends_query_and_document_path_document(emulator: Emulator) -> None:
    embedding = ModelStudioEmbedding(
        api_key=emulator.api_key, base_url=emulator.base_url, protocol="native"
    )
    embedding.get_text_embedding_batch(["doc one", "doc two"])
    embedding.get_query_embedding("a question")
    asyncio.run(embedding.aget_query_embedding("another"))
    assert [r.text_type for r in emulator.log] == ["document", "query", "query"]


def test_query_and_document_vectors_of_one_text_differ(make_client: MakeClient) -> None:
    client = make_client(protocol="native")
    query = client.embed(["visa rules"], text_type="query")
    document = client.embed(["visa rules"], text_type="document")
    assert not np.array_equal(query, document)
    assert float(query[0] @ document[0]) > 0.9


def test_compatible_path_sends_no_text_type(emulator: Emulator) -> None:
    embeddings = ModelStudioEmbeddings(
        api_key=emulator.api_key,  # type: ignore[arg-type]
        base_url=emulator.base_url,
    )
    embeddings.embed_query("a question")
    assert emulator.log[0].text_type is None
    assert emulator.log[0].path.startswith("/compatible-mode/")


def test_both_protocols_agree_in_shape_and_order(
    emulator: Emulator, make_client: MakeClient
) -> None:
    texts = [f"text {i} about dock{i}" for i in range(37)]
    compatible = make_client(dimensions=512).embed(texts)
    emulator.script(Fault.shuffle(), Fault.shuffle())
    native = make_client(dimensions=512, protocol="native").embed(texts)
    assert native.shape == compatible.shape == (37, 512)
    assert np.allclose(native, compatible, atol=1e-6)


CONTRACT_FAULTS = [
    (Fault.arrearage, mse.BillingError),
    (lambda: Fault.access_denied("Model.AccessDenied"), mse.PermissionDeniedError),
    (Fault.moderated, mse.ContentInspectionError),
    (Fault.input_too_long, mse.InputTooLongError),
    (lambda: Fault.error(404, "ModelNotFound", "Model not exist."), mse.ModelNotFoundError),
    (Fault.rate_limited, mse.RateLimitError),
    (Fault.quota_exceeded, mse.RateLimitError),
    (Fault.server_error, mse.ServiceUnavailableError),
    (Fault.unavailable, mse.ServiceUnavailableError),
    (Fault.reset, mse.APIConnectionError),
    (Fault.malformed_json, mse.ResponseValidationError),
    (Fault.missing_vector, mse.ResponseValidationError),
]


@pytest.mark.parametrize("protocol", ["compatible", "native"])
@pytest.mark.parametrize(("fault", "cls"), CONTRACT_FAULTS)
def test_every_contract_error_is_the_same_typed_error_from_both_protocols(
    emulator: Emulator,
    make_client: MakeClient,
    protocol: str,
    fault: Callable[[], Fault],
    cls: type[mse.ModelStudioError],
) -> None:
    emulator.script(*(fault() for _ in range(5)))
    with pytest.raises(cls):
        make_client(protocol=protocol, max_retries=2).embed(["one row"])


@pytest.mark.parametrize("protocol", ["compatible", "native"])
def test_a_wrong_key_is_an_authentication_error_from_both_protocols(
    make_client: MakeClient, protocol: str
) -> None:
    with pytest.raises(mse.AuthenticationError):
        make_client(protocol=protocol, api_key="sk-wrong").embed(["a"])


def test_options_the_protocol_does_not_document_fail_before_any_request(
    emulator: Emulator, make_client: MakeClient
) -> None:
    with pytest.raises(mse.ConfigurationError, match="protocol='native'"):
        make_client().embed(["a"], text_type="query")
    with pytest.raises(mse.ConfigurationError, match="v4 do"):
        make_client("text-embedding-v3", protocol="native").embed(["a"], instruct="x")
    with pytest.raises(mse.ConfigurationError, match="v3 and v4 do"):
        make_client("text-embedding-v2", protocol="native").embed_sparse(["a"])
    assert emulator.log == []


def test_hybrid_returns_dense_and_sparse_rows_in_order(make_client: MakeClient) -> None:
    client = make_client(protocol="native", dimensions=256)
    dense, sparse = client.embed_hybrid(["alpha beta", "gamma", "beta beta delta"])
    assert dense.shape == (3, 256) and len(sparse) == 3
    assert {t for t in sparse[2].tokens or ()} == {"beta", "delta"}
    assert sparse[1].tokens == ("gamma",)


def test_llama_index_sparse_embedding_gives_id_weight_maps(emulator: Emulator) -> None:
    from llama_index_modelstudio.sparse import ModelStudioSparseEmbedding

    sparse = ModelStudioSparseEmbedding(
        api_key=emulator.api_key, base_url=emulator.host_url, retry_policy=FAST_RETRY
    )
    rows = sparse.get_text_embedding_batch(["harbour fees", "harbour"])
    assert len(rows) == 2 and len(rows[0]) == 2 and set(rows[1]) <= set(rows[0])
    assert sparse.class_name() == "ModelStudioSparseEmbedding"
    assert emulator.api_key not in repr(sparse) + str(sparse.model_dump())


def test_qdrant_hybrid_search_finds_a_keyword_only_match(emulator: Emulator) -> None:
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    from langchain_modelstudio.sparse import ModelStudioSparseEmbeddings

    dense = ModelStudioEmbeddings(
        api_key=emulator.api_key,  # type: ignore[arg-type]
        base_url=emulator.base_url,
        protocol="native",
        dimensions=256,
    )
    sparse = ModelStudioSparseEmbeddings(api_key=emulator.api_key, base_url=emulator.host_url)
    texts = [f"Shipping policy {i}: pallets, containers and customs forms." for i in range(40)]
    texts.append("Reefer unit XK7734 needs a technician before loading.")
    store = QdrantVectorStore.from_texts(
        texts,
        embedding=dense,
        sparse_embedding=sparse,
        location=":memory:",
        collection_name=f"hybrid{uuid.uuid4().hex}",
        retrieval_mode=RetrievalMode.HYBRID,
    )
    hits = store.similarity_search("XK7734", k=1)
    assert hits[0].page_content == texts[-1]
    assert any(r.output_type == "sparse" for r in emulator.log)
