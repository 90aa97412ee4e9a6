"""The client's model table and the emulator's contract table are written separately, from the
service contract; they must agree, so a wrong limit in either fails here, not silently."""

from __future__ import annotations

from modelstudio_embeddings import MODELS
from modelstudio_embeddings.embeddings.wire import PROTOCOLS
from modelstudio_emulator.contract import COMPATIBLE_PATH, EMBEDDING_MODELS, NATIVE_PATH


def test_every_model_has_the_contracts_limits_and_widths() -> None:
    assert set(MODELS) == set(EMBEDDING_MODELS)
    for name, spec in MODELS.items():
        contract = EMBEDDING_MODELS[name]
        assert spec.rows_per_request == contract.rows_per_request, name
        assert spec.tokens_per_row == contract.tokens_per_row, name
        assert spec.dimensions == contract.dimensions, name
        assert spec.accepts_dimensions == contract.accepts_dimensions, name


def test_the_client_posts_to_the_contracts_paths() -> None:
    assert PROTOCOLS["compatible"].path == COMPATIBLE_PATH
    assert PROTOCOLS["native"].path == NATIVE_PATH
