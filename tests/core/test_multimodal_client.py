"""MultimodalEmbeddingClient against the emulator over real HTTP: a thousand local images and
their captions in the fewest requests the limits allow, row i the vector of item i, files read
only when their request is built, retrieval by caption, bad items named (the rest on
``partial``), fusion, usage, retries, learned limits, sync and async."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelstudio_embeddings import (
    ConfigurationError,
    ContentFetchError,
    ContentInspectionError,
    InvalidInputError,
    MultimodalEmbeddingClient,
)
from modelstudio_embeddings.multimodal import Image, Text, Video
from modelstudio_embeddings.multimodal import items as items_module
from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.images import captioned_png
from modelstudio_emulator.multimodal import MULTIMODAL_PATH, image_vector, text_vector
from tests.conftest import FAST_RETRY

MakeClient = Callable[..., MultimodalEmbeddingClient]
WIDTH = 256


@pytest.fixture
def make_client(emulator: Emulator) -> Iterator[MakeClient]:
    made: list[MultimodalEmbeddingClient] = []

    def factory(model: str = "qwen3-vl-embedding", **kwargs: Any) -> MultimodalEmbeddingClient:
        kwargs.setdefault("api_key", emulator.api_key)
        kwargs.setdefault("base_url", emulator.host_url)
        kwargs.setdefault("dimensions", WIDTH if model == "qwen3-vl-embedding" else None)
        retries = kwargs.get("max_retries", FAST_RETRY.max_retries)
        kwargs.setdefault("retry_policy", replace(FAST_RETRY, max_retries=retries))
        client = MultimodalEmbeddingClient(model, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


def caption(i: int) -> str:
    return f"a photo of item {i} a red bicycle"


def write_images(folder: Path, count: int, name: Callable[[int], str] = caption) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"{i:04d}.png"
        path.write_bytes(captioned_png(name(i)))
        paths.append(path)
    return paths


def multimodal_requests(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.log if r.path == MULTIMODAL_PATH]


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_images(tmp_path_factory.mktemp("images"), 1000)


# --- many items --------------------------------------------------------------------------------


def test_a_thousand_images_and_captions_in_the_fewest_requests(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path]
) -> None:
    items: list[Any] = [*thousand, *(caption(i) for i in range(1000))]
    vectors = make_client().embed(items)
    assert vectors.shape == (2000, WIDTH) and vectors.dtype == np.float32
    for i, path in enumerate(thousand):
        assert np.allclose(vectors[i], image_vector(path.read_bytes(), WIDTH), atol=1e-6), i
        assert np.allclose(vectors[1000 + i], text_vector(caption(i), WIDTH), atol=1e-6), i
    sent = multimodal_requests(emulator)
    assert len(sent) == math.ceil(2000 / 20)
    assert all(r.rows == 20 and r.status == 200 for r in sent)


async def test_aembed_gives_the_same_rows_as_embed(
    make_client: MakeClient, thousand: list[Path]
) -> None:
    items: list[Any] = [*thousand[:130], "a red bicycle", Image(thousand[0].read_bytes())]
    client = make_client()
    assert np.array_equal(await client.aembed(items), client.embed(items))


def test_a_caption_query_finds_its_own_image(make_client: MakeClient, thousand: list[Path]) -> None:
    client = make_client()
    images = client.embed_images([str(path) for path in thousand])
    queries = client.embed_texts([caption(i) for i in range(0, 1000, 7)])
    nearest = np.argmax(queries @ images.T, axis=1)
    assert nearest.tolist() == list(range(0, 1000, 7))


async def test_aembed_images_and_aembed_texts_read_a_str_as_their_kind(
    make_client: MakeClient, thousand: list[Path]
) -> None:
    client = make_client()
    paths = [str(path) for path in thousand[:45]]
    assert np.array_equal(await client.aembed_images(paths), client.embed_images(paths))
    texts = [caption(i) for i in range(45)]
    assert np.array_equal(await client.aembed_texts(texts), client.embed_texts(texts))


def test_files_are_read_only_when_their_request_is_built(
    emulator: Emulator,
    make_client: MakeClient,
    thousand: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one request at a time, item i's file is read after the requests before its own
    were answered, never earlier: at most one request's images are held at once."""
    read_when: dict[Path, int] = {}
    real_read = items_module.read_file

    def recording(path: Path) -> bytes:
        read_when[path] = len(multimodal_requests(emulator))
        return real_read(path)

    monkeypatch.setattr(items_module, "read_file", recording)
    paths = thousand[:200]
    make_client(max_concurrency=1).embed(path for path in paths)  # a generator is fine
    assert [read_when[path] for path in paths] == [i // 20 for i in range(200)]


# --- mixed items -------------------------------------------------------------------------------


def test_every_kind_of_item_embeds(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path]
) -> None:
    pil = pytest.importorskip("PIL.Image")
    data = thousand[3].read_bytes()
    items: list[Any] = [
        "plain text",
        Text("wrapped text"),
        thousand[3],
        Image(str(thousand[3])),
        Image(data),
        data,
        Image("https://example.com/cat.png"),
        Video("https://example.com/clip.mp4"),
        pil.new("RGB", (4, 4), "red"),
    ]
    vectors = make_client().embed(items)
    expected = image_vector(data, WIDTH)
    for row in (2, 3, 4, 5):
        assert np.allclose(vectors[row], expected, atol=1e-6)
    assert np.allclose(vectors[1], text_vector("wrapped text", WIDTH), atol=1e-6)
    (request,) = multimodal_requests(emulator)
    assert request.body is not None
    assert request.body["parameters"] == {"dimension": WIDTH}


def test_fused_groups_give_one_vector_each_one_request_a_group(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path]
) -> None:
    groups = [[thousand[i], caption(i)] for i in range(5)]
    client = make_client()
    fused = client.embed_fused(groups)
    assert fused.shape == (5, WIDTH)
    sent = multimodal_requests(emulator)
    assert len(sent) == 5 and all(r.body["parameters"]["enable_fusion"] is True for r in sent)
    per_item = client.embed([item for group in groups for item in group])
    for i in range(5):
        both = per_item[2 * i].astype(np.float64) + per_item[2 * i + 1]
        assert np.allclose(fused[i], both / np.linalg.norm(both), atol=1e-5)


@pytest.mark.parametrize("shape", ["embeddings", "embedding"])
async def test_either_answer_shape_gives_every_row_right(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path], shape: str
) -> None:
    """Older answers carried one ``output.embedding`` (multimodal-embedding-v1, one item a
    request; a fused request): read either way, sync and async, nothing misplaced."""
    emulator.configure(multimodal_answer=shape)
    v1 = make_client("multimodal-embedding-v1", dimensions=None)
    items: list[Any] = [thousand[0], caption(1), thousand[2]]
    for vectors in (v1.embed(items), await v1.aembed(items)):
        assert np.allclose(vectors[0], image_vector(thousand[0].read_bytes(), 1024), atol=1e-6)
        assert np.allclose(vectors[1], text_vector(caption(1), 1024), atol=1e-6)
    qwen = make_client()
    groups = [[thousand[i], caption(i)] for i in range(3)]
    assert np.array_equal(qwen.embed_fused(groups), await qwen.aembed_fused(groups))
    assert qwen.embed(items).shape == (3, WIDTH)
    if shape == "embedding":
        one = [r for r in multimodal_requests(emulator) if r.rows == 1]
        assert one and all(r.status == 200 for r in one)


def test_the_emulator_refuses_an_unknown_answer_shape(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="multimodal_answer"):
        emulator.configure(multimodal_answer="vector")


async def test_fusion_on_a_model_that_does_not_fuse_is_refused_before_any_request(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client("tongyi-embedding-vision-plus")
    with pytest.raises(ConfigurationError, match="qwen3-vl-embedding"):
        client.embed_fused([["a", "b"]])
    with pytest.raises(ConfigurationError):
        await client.aembed_fused([["a", "b"]])
    assert emulator.log == []


# --- bad items ---------------------------------------------------------------------------------


def test_local_problems_are_named_before_any_request(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path], tmp_path: Path
) -> None:
    not_image = tmp_path / "notes.png"
    not_image.write_text("just text")
    too_big = tmp_path / "big.png"
    too_big.write_bytes(captioned_png("big", padding=3 * 1024 * 1024))
    items: list[Any] = [*thousand[:10], tmp_path / "gone.png", not_image, too_big]
    client = make_client("tongyi-embedding-vision-plus")
    with pytest.raises(InvalidInputError) as caught:
        client.embed(items)
    assert caught.value.indices == (10, 11, 12)
    assert emulator.log == []


@pytest.mark.parametrize("model", ["qwen3-vl-embedding", "tongyi-embedding-vision-flash"])
def test_a_moderated_image_is_named_and_every_other_vector_kept(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path], tmp_path: Path, model: str
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(captioned_png("a [[BLOCKED]] picture"))
    items: list[Any] = [*thousand[:30], bad, *thousand[30:45]]
    with pytest.raises(ContentInspectionError) as caught:
        make_client(model).embed(items)
    error = caught.value
    assert error.indices == (30,)
    assert error.partial is not None
    assert list(error.partial.indices) == [i for i in range(46) if i != 30]
    width = make_client(model).dimensions
    for index, vector in zip(error.partial.indices, error.partial.vectors, strict=True):
        assert np.allclose(vector, image_vector(items[index].read_bytes(), width), atol=1e-6)


async def test_an_unreachable_url_is_named_and_every_other_vector_kept(
    make_client: MakeClient, thousand: list[Path]
) -> None:
    items: list[Any] = [
        *thousand[:12],
        Image("https://bucket.invalid/expired.png?Expires=1"),
        *thousand[12:25],
    ]
    with pytest.raises(ContentFetchError) as caught:
        await make_client().aembed(items)
    error = caught.value
    assert error.indices == (12,)
    assert "Failed to download multimodal content" in error.message
    assert error.partial is not None and len(error.partial) == 25
    assert 12 not in error.partial.indices


def test_a_url_error_names_the_item(make_client: MakeClient) -> None:
    items: list[Any] = ["a", Image("https://example.com/ok.png"), "b"]
    client = make_client()
    with pytest.raises(ContentFetchError) as caught:
        client.embed([*items, Video("https://cdn.invalid/clip.mp4")])
    assert caught.value.indices == (3,)


# --- the shared machinery ------------------------------------------------------------------------


def test_usage_counts_items_images_image_tokens_and_cost(
    make_client: MakeClient, thousand: list[Path]
) -> None:
    client = make_client()
    client.embed([*thousand[:3], "a red bicycle"])
    usage = client.usage
    assert usage.rows == 4 and usage.images == 3 and usage.requests == 1
    assert usage.image_tokens == 3 * 4  # 8x8 pixels: the emulator's least, 4 tokens
    assert usage.prompt_tokens > usage.image_tokens
    text_tokens = usage.prompt_tokens - usage.image_tokens
    assert usage.cost_cny == pytest.approx(text_tokens * 0.0007 / 1000 + 12 * 0.0018 / 1000)
    assert "(3 images)" in str(usage)


def test_a_server_error_is_retried_and_the_rows_are_right(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path]
) -> None:
    emulator.script(Fault.server_error())
    vectors = make_client().embed(thousand[:5])
    assert np.allclose(vectors[4], image_vector(thousand[4].read_bytes(), WIDTH), atol=1e-6)
    assert [r.status for r in multimodal_requests(emulator)] == [500, 200]


def test_a_lower_item_limit_the_service_announces_is_learned(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path]
) -> None:
    client = make_client()
    client._items_per_request = 30  # as if the table said 30
    vectors = client.embed(thousand[:60])
    assert client.items_per_request == 20
    assert np.allclose(vectors[59], image_vector(thousand[59].read_bytes(), WIDTH), atol=1e-6)
    answered = [r.rows for r in multimodal_requests(emulator) if r.status == 200]
    assert sorted(answered) == [10, 10, 20, 20]  # each 30 refused once at most, then split


def test_models_not_offered_in_a_region_are_refused(emulator: Emulator) -> None:
    with pytest.raises(ConfigurationError, match="cn-beijing"):
        MultimodalEmbeddingClient(api_key="sk-x", region="ap-southeast-1")
    client = MultimodalEmbeddingClient(
        "tongyi-embedding-vision-plus", api_key="sk-x", region="ap-southeast-1"
    )
    assert client.dimensions == 1152 and "sk-x" not in repr(client)
    client.close()


def test_a_429_is_retried_under_the_accounts_budget(
    emulator: Emulator, make_client: MakeClient, thousand: list[Path]
) -> None:
    emulator.script(Fault.rate_limited())
    client = make_client()
    vectors = client.embed(thousand[:3])
    assert np.allclose(vectors[2], image_vector(thousand[2].read_bytes(), WIDTH), atol=1e-6)
    assert client.usage.throttled == 1 and client.usage.retries == 1
    assert client.rate_limit is not None  # paced, limits learned from the 429s
    assert make_client(rate_limit=False).rate_limit is None


def test_no_items_no_request(emulator: Emulator, make_client: MakeClient) -> None:
    assert make_client().embed([]).shape == (0, WIDTH)
    assert emulator.log == []


def test_a_pickled_client_reads_its_key_from_the_environment(
    emulator: Emulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(dimensions=512)
    data = pickle.dumps(client)
    assert emulator.api_key.encode() not in data
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    copy = pickle.loads(data)
    try:
        assert copy.dimensions == 512 and copy.embed(["a red bicycle"]).shape == (1, 512)
    finally:
        copy.close()
