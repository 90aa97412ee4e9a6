"""LangChain's own standard suites, subclassed unchanged and run against the emulator."""

from __future__ import annotations

import atexit
from typing import Any

from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_modelstudio import ModelStudioEmbeddings
from modelstudio_emulator import Emulator

_EMULATOR = Emulator().start()
atexit.register(_EMULATOR.stop)


class TestModelStudioEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[ModelStudioEmbeddings]:
        return ModelStudioEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"api_key": _EMULATOR.api_key, "base_url": _EMULATOR.base_url}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"DASHSCOPE_API_KEY": "sk-from-env"},
            {"base_url": _EMULATOR.base_url},
            {"api_key": "sk-from-env"},
        )


class TestModelStudioEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[ModelStudioEmbeddings]:
        return ModelStudioEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"api_key": _EMULATOR.api_key, "base_url": _EMULATOR.base_url, "dimensions": 256}
