"""Response parsing: placed by index, checked for count, width, duplicates and finiteness."""

from __future__ import annotations

import base64
import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelstudio_embeddings import ResponseValidationError
from modelstudio_embeddings.core.answers import decode_json
from modelstudio_embeddings.embeddings.wire import compatible_body, parse_compatible


def payload(vectors: list[list[float]], order: list[int] | None = None) -> dict[str, object]:
    order = order if order is not None else list(range(len(vectors)))
    return {
        "data": [{"embedding": vectors[i], "index": i, "object": "embedding"} for i in order],
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
        "id": "abc",
    }


def test_body_always_asks_for_float() -> None:
    body = compatible_body("text-embedding-v4", ["a"], 512)
    assert body == {
        "model": "text-embedding-v4",
        "input": ["a"],
        "encoding_format": "float",
        "dimensions": 512,
    }
    assert "dimensions" not in compatible_body("text-embedding-v2", ["a"], None)


@given(st.permutations(list(range(6))))
def test_vectors_are_placed_by_index_whatever_the_order(order: list[int]) -> None:
    vectors = [[float(i), float(i) + 0.5] for i in range(6)]
    out = np.empty((6, 2), dtype=np.float32)
    parsed = parse_compatible(payload(vectors, order), out)
    assert out.tolist() == vectors
    assert parsed.prompt_tokens == 7


def test_base64_vectors_are_decoded() -> None:
    raw = np.array([[0.25, -1.5], [3.0, 4.0]], dtype="<f4")
    data = {
        "data": [
            {"embedding": base64.b64encode(raw[i].tobytes()).decode(), "index": i} for i in range(2)
        ]
    }
    out = np.empty((2, 2), dtype=np.float32)
    parse_compatible(data, out)
    assert np.array_equal(out, raw)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"data": [{"embedding": [1.0, 2.0], "index": 0}]}, "1 vectors for 2 rows"),
        (
            {
                "data": [
                    {"embedding": [1.0, 2.0], "index": 0},
                    {"embedding": [1.0, 2.0], "index": 0},
                ]
            },
            "came back twice",
        ),
        (
            {
                "data": [
                    {"embedding": [1.0, 2.0], "index": 0},
                    {"embedding": [1.0, 2.0], "index": 2},
                ]
            },
            "not a row",
        ),
        (
            {"data": [{"embedding": [1.0], "index": 0}, {"embedding": [1.0, 2.0], "index": 1}]},
            "1 values, expected 2",
        ),
        (
            {
                "data": [
                    {"embedding": [1.0, "x"], "index": 0},
                    {"embedding": [1.0, 2.0], "index": 1},
                ]
            },
            "not numbers",
        ),
        (
            {
                "data": [
                    {"embedding": [1.0, None], "index": 0},
                    {"embedding": [1.0, 2.0], "index": 1},
                ]
            },
            "not numbers",
        ),
        (
            {
                "data": [
                    {"embedding": [1.0, float("nan")], "index": 0},
                    {"embedding": [1.0, 2.0], "index": 1},
                ]
            },
            "non-finite",
        ),
        ({"data": "nope"}, "no 'data' list"),
        ([], "expected a JSON object"),
        ({"data": [{"embedding": "@@@", "index": 0}, {"embedding": [1, 2], "index": 1}]}, "base64"),
        (
            {"data": [{"embedding": [1, 2], "index": True}, {"embedding": [1, 2], "index": 1}]},
            "index",
        ),
    ],
)
def test_unusable_responses_raise_response_validation_error(data: object, fragment: str) -> None:
    with pytest.raises(ResponseValidationError, match=fragment):
        parse_compatible(data, np.empty((2, 2), dtype=np.float32))


@pytest.mark.parametrize(
    "content", [b'{"data": [', b"<html>502 Bad Gateway</html>", b"", b'{"data": [1,]}']
)
def test_bodies_that_are_not_json_raise_response_validation_error(content: bytes) -> None:
    with pytest.raises(ResponseValidationError, match="not JSON"):
        decode_json(content)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_json_value_gives_vectors_or_response_validation_error(value: object) -> None:
    out = np.empty((2, 3), dtype=np.float32)
    with contextlib.suppress(ResponseValidationError):
        parse_compatible(value, out)


def test_native_body_uses_dimension_singular_and_parameters() -> None:
    from modelstudio_embeddings.embeddings.wire import EmbedOptions, native_body

    body = native_body(
        "text-embedding-v4",
        ["q"],
        256,
        EmbedOptions(text_type="query", instruct="Find the policy", output_type="dense&sparse"),
    )
    assert body == {
        "model": "text-embedding-v4",
        "input": {"texts": ["q"]},
        "parameters": {
            "output_type": "dense&sparse",
            "dimension": 256,
            "text_type": "query",
            "instruct": "Find the policy",
        },
    }


def test_native_response_is_placed_by_text_index_with_sparse_rows() -> None:
    from modelstudio_embeddings.embeddings.wire import EmbedOptions, parse_native

    payload = {
        "output": {
            "embeddings": [
                {
                    "embedding": [1.0, 1.0],
                    "text_index": 1,
                    "sparse_embedding": [{"index": 9, "value": 0.5, "token": "tea"}],
                },
                {"embedding": [0.0, 0.0], "text_index": 0, "sparse_embedding": []},
            ]
        },
        "usage": {"total_tokens": 5},
        "request_id": "r1",
    }
    out = np.empty((2, 2), dtype=np.float32)
    parsed = parse_native(payload, out, EmbedOptions(output_type="dense&sparse"))
    assert out.tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert parsed.sparse is not None
    assert parsed.sparse[1].as_dict() == {9: 0.5} and parsed.sparse[1].tokens == ("tea",)
    assert parsed.prompt_tokens == 5 and parsed.request_id == "r1"


@pytest.mark.parametrize(
    ("model", "protocol", "options", "fragment"),
    [
        ("text-embedding-v4", "compatible", {"text_type": "query"}, "protocol='native'"),
        ("text-embedding-v4", "compatible", {"output_type": "sparse"}, "protocol='native'"),
        ("text-embedding-v3", "native", {"instruct": "x"}, "text-embedding-v4 do"),
        ("text-embedding-v2", "native", {"text_type": "query"}, "v3 and v4 do"),
        ("text-embedding-v1", "native", {"output_type": "dense&sparse"}, "v3 and v4 do"),
        ("text-embedding-v4", "native", {"text_type": "question"}, "'document' or 'query'"),
    ],
)
def test_options_a_protocol_or_model_does_not_document_are_refused(
    model: str, protocol: str, options: dict[str, str], fragment: str
) -> None:
    from modelstudio_embeddings import MODELS, ConfigurationError
    from modelstudio_embeddings.embeddings.wire import EmbedOptions, validate_options

    with pytest.raises(ConfigurationError, match=fragment.replace("(", r"\(")):
        validate_options(MODELS[model], protocol, EmbedOptions(**options))


def test_options_that_are_documented_pass() -> None:
    from modelstudio_embeddings import MODELS
    from modelstudio_embeddings.embeddings.wire import EmbedOptions, validate_options

    validate_options(
        MODELS["text-embedding-v4"],
        "native",
        EmbedOptions(text_type="query", instruct="x", output_type="dense&sparse"),
    )
    validate_options(MODELS["text-embedding-v2"], "compatible", EmbedOptions())
