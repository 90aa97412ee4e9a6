"""The public surface, pinned (as httpx's tests/test_exported_members.py): every name users and
the adapters import is exported, each export resolves, and a new one is added on purpose."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "modelstudio_embeddings": [
        "DEFAULT_MODEL",
        "MODELS",
        "MULTIMODAL_MODELS",
        "REGIONS",
        "RERANK_MODELS",
        "APIConnectionError",
        "APITimeoutError",
        "AuthenticationError",
        "BillingError",
        "BurstRateLimitError",
        "ConfigurationError",
        "ContentFetchError",
        "ContentInspectionError",
        "EmbeddingClient",
        "EndpointNotFoundError",
        "FileBudget",
        "HostNotFoundError",
        "InputTooLongError",
        "InvalidInputError",
        "InvalidRequestError",
        "LocalBudget",
        "ModelNotFoundError",
        "ModelSpec",
        "ModelStudioError",
        "MultimodalEmbeddingClient",
        "MultimodalSpec",
        "PartialEmbeddings",
        "PermissionDeniedError",
        "RateLimit",
        "RateLimitError",
        "RayBudget",
        "Region",
        "RequestRateLimitError",
        "RerankClient",
        "RerankSpec",
        "ResponseValidationError",
        "RetryPolicy",
        "RowLimitError",
        "ServiceUnavailableError",
        "SparseEmbedding",
        "TokenRateLimitError",
        "Usage",
        "__version__",
        "estimate_tokens",
    ],
    "modelstudio_emulator": [
        "CONTRACT_ERRORS",
        "BatchFault",
        "Emulator",
        "EmulatorStats",
        "Fault",
        "RateLimitSpec",
        "RequestRecord",
        "captioned_png",
        "connect",
    ],
    "modelstudio_embeddings.multimodal": [
        "DEFAULT_MULTIMODAL_MODEL",
        "MULTIMODAL_MODELS",
        "Image",
        "Item",
        "MultimodalEmbeddingClient",
        "MultimodalSpec",
        "Text",
        "Video",
    ],
    "modelstudio_embeddings.ray": ["ROW_ERRORS", "EmbedBatch", "OnError", "RayBudget"],
    "modelstudio_embeddings.batch": [
        "BATCH_TEST_MODEL",
        "DEFAULT_FILE_LIMITS",
        "ArraySink",
        "BatchJob",
        "BatchResult",
        "CorpusComparison",
        "CostEstimate",
        "FileLimits",
        "Manifest",
        "NpySink",
        "ParquetSink",
        "RowFailure",
        "Sink",
        "compare_corpus",
    ],
    "langchain_modelstudio": [
        "BatchPrecomputedEmbeddings",
        "ModelStudioEmbeddings",
        "ModelStudioMultimodalEmbeddings",
        "ModelStudioRerank",
    ],
    "llama_index_modelstudio": [
        "BatchEmbeddingTransform",
        "ModelStudioEmbedding",
        "ModelStudioMultiModalEmbedding",
        "ModelStudioRerank",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_exports_are_exactly_the_public_names(module: str) -> None:
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == sorted(PUBLIC[module])
    for name in imported.__all__:
        assert getattr(imported, name) is not None, name


def test_the_old_emulator_import_path_still_works() -> None:
    from modelstudio_embeddings.emulator import Emulator
    from modelstudio_emulator import Emulator as Same

    assert Emulator is Same
