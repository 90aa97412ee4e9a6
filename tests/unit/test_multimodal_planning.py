"""The multimodal family without HTTP: items checked before any request (reading only each
file's first bytes), requests planned within the model's limits, answers read by index, the
error table's fetch failures, the model table against the emulator's contract, test PNGs."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelstudio_embeddings import (
    ConfigurationError,
    ContentFetchError,
    InputTooLongError,
    InvalidInputError,
    ResponseValidationError,
)
from modelstudio_embeddings.core.errors import translate_status
from modelstudio_embeddings.multimodal import MULTIMODAL_MODELS, Image, Text, Video
from modelstudio_embeddings.multimodal import items as items_module
from modelstudio_embeddings.multimodal.planning import check_groups, check_items, plan_requests
from modelstudio_embeddings.multimodal.settings import MultimodalSettings
from modelstudio_embeddings.multimodal.wire import multimodal_body, parse_multimodal
from modelstudio_emulator import multimodal as emulated
from modelstudio_emulator.images import captioned_png, png_caption, png_size

QWEN = MULTIMODAL_MODELS["qwen3-vl-embedding"]
PLUS = MULTIMODAL_MODELS["tongyi-embedding-vision-plus"]


def png_file(tmp_path: Path, name: str, caption: str = "a red bicycle", **kwargs: int) -> Path:
    path = tmp_path / name
    path.write_bytes(captioned_png(caption, padding=kwargs.get("padding", 0)))
    return path


# --- planning --------------------------------------------------------------------------------


def test_requests_hold_at_most_the_items_per_request() -> None:
    batches = plan_requests([0] * 45, items_per_request=20)
    assert [(b.start, b.stop) for b in batches] == [(0, 20), (20, 40), (40, 45)]


def test_a_byte_budget_closes_a_request_early_and_a_large_image_goes_alone() -> None:
    batches = plan_requests([4, 4, 4, 10, 1, 1], items_per_request=20, bytes_per_request=9)
    assert [(b.start, b.stop) for b in batches] == [(0, 2), (2, 3), (3, 4), (4, 6)]


# --- checking items --------------------------------------------------------------------------


def test_a_str_is_text_a_path_or_bytes_an_image_a_video_a_url(tmp_path: Path) -> None:
    path = png_file(tmp_path, "a.png")
    data = path.read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    contents = check_items(
        [
            "https://example.com/cat.png",
            Text("hello"),
            path,
            Image(str(path)),
            data,
            Image("https://example.com/cat.png"),
            uri,
            Image(uri),
            Video("https://example.com/clip.mp4"),
        ],
        QWEN,
    )
    kinds = [(c.kind, c.format) for c in contents]
    assert kinds == [
        ("text", None),  # a str is text, even a URL
        ("text", None),
        ("image", "png"),
        ("image", "png"),
        ("image", "png"),
        ("image", None),
        ("text", None),  # a data URI as a plain str is text too
        ("image", "png"),
        ("video", None),
    ]
    assert contents[2].size == len(data) and contents[7].size == len(data)


def test_a_pil_image_is_encoded_as_png(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    (content,) = check_items([pil.new("RGB", (4, 4), "red")], QWEN)
    wired = content.wire()["image"]
    assert wired.startswith("data:image/png;base64,")
    decoded = pil.open(io.BytesIO(base64.b64decode(wired.split(",", 1)[1])))
    assert decoded.size == (4, 4)


def test_every_bad_item_is_named_with_why_before_anything_is_sent(tmp_path: Path) -> None:
    good = png_file(tmp_path, "good.png")
    notes = tmp_path / "notes.png"
    notes.write_text("not an image at all")
    big = png_file(tmp_path, "big.png", padding=3 * 1024 * 1024)
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + bytes(20))
    items = [
        good,
        tmp_path / "missing.png",
        notes,
        big,
        gif,
        tmp_path,
        Image("ftp://example.com/a.png"),
        Video("clip.mp4"),
        "   ",
        3.5,
    ]
    with pytest.raises(InvalidInputError) as caught:
        check_items(items, PLUS)
    error = caught.value
    assert error.indices == (1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert error.message.startswith("Item 1 is a file that does not exist")
    assert "item 2 is not an image" in error.message
    assert "item 3 is an image of" in error.message and "over this model's" in error.message
    assert "(9 bad items in all)" in error.message
    with pytest.raises(InvalidInputError, match="GIF image; this model takes bmp, jpeg, png"):
        check_items([gif], PLUS)


def test_a_single_item_instead_of_a_list_is_refused(tmp_path: Path) -> None:
    singles: list[Any] = ["a text", b"bytes", png_file(tmp_path, "a.png")]
    for single in singles:
        with pytest.raises(InvalidInputError, match="wrap it in a list"):
            check_items(single, QWEN)


def test_checking_reads_only_the_first_bytes_of_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [png_file(tmp_path, f"{i}.png", f"caption {i}") for i in range(5)]

    def no_reading(path: Path) -> bytes:
        raise AssertionError(f"{path} was read while checking")

    monkeypatch.setattr(items_module, "read_file", no_reading)
    contents = check_items(iter(paths), QWEN)  # an iterator is fine
    assert [c.value for c in contents] == paths


def test_a_text_over_the_model_limit_for_certain_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputTooLongError) as caught:
        check_items(["short", "word " * 1100], PLUS)
    assert caught.value.indices == (1,)


def test_groups_to_fuse_hold_one_to_items_per_request_items(tmp_path: Path) -> None:
    path = png_file(tmp_path, "a.png")
    assert len(check_groups([[path, "a caption"], ["text"]], QWEN)) == 2
    with pytest.raises(InvalidInputError) as caught:
        check_groups([[path], []], QWEN)
    assert caught.value.indices == (1,)
    with pytest.raises(InvalidInputError) as caught:
        check_groups([["ok"], ["ok", tmp_path / "missing.png"]], QWEN)
    assert caught.value.indices == (1,) and caught.value.message.startswith("Group 1: ")


# --- settings --------------------------------------------------------------------------------


def test_unknown_models_and_widths_are_refused_naming_what_is_offered() -> None:
    with pytest.raises(ConfigurationError, match="qwen3-vl-embedding"):
        MultimodalSettings(model="text-embedding-v4")
    with pytest.raises(ConfigurationError, match="1152, 1024, 512"):
        MultimodalSettings(model="tongyi-embedding-vision-plus", dimensions=2560)
    assert MultimodalSettings(dimensions=256).width == 256
    assert MultimodalSettings().width == 2560


# --- the wire --------------------------------------------------------------------------------


def test_the_body_sends_the_width_and_fusion_only_when_asked() -> None:
    body = multimodal_body("qwen3-vl-embedding", [{"text": "a"}], 1024)
    assert body == {
        "model": "qwen3-vl-embedding",
        "input": {"contents": [{"text": "a"}]},
        "parameters": {"dimension": 1024},
    }
    fused = multimodal_body("qwen3-vl-embedding", [{"text": "a"}], None, fusion=True)
    assert fused["parameters"] == {"enable_fusion": True}


def test_vectors_are_placed_by_index_and_image_tokens_read() -> None:
    out = np.empty((3, 2), dtype=np.float32)
    payload = {
        "output": {
            "embeddings": [
                {"index": 2, "embedding": [2.0, 2.0], "type": "image"},
                {"index": 0, "embedding": [0.0, 0.0], "type": "text"},
                {"index": 1, "embedding": [1.0, 1.0], "type": "image"},
            ]
        },
        "usage": {"input_tokens": 40, "input_tokens_details": {"image_tokens": 32}},
        "request_id": "r",
    }
    parsed = parse_multimodal(payload, out)
    assert out[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert parsed.prompt_tokens == 40 and dict(parsed.counts) == {"image_tokens": 32}


def test_an_older_answer_with_a_single_embedding_is_read() -> None:
    out = np.empty((1, 2), dtype=np.float32)
    parse_multimodal({"output": {"embedding": [0.5, 0.25]}, "usage": {"input_tokens": 3}}, out)
    assert out.tolist() == [[0.5, 0.25]]


def test_an_index_twice_or_missing_is_refused() -> None:
    out = np.empty((2, 2), dtype=np.float32)
    twice = {"output": {"embeddings": [{"index": 0, "embedding": [0, 0]}] * 2}}
    with pytest.raises(ResponseValidationError, match="came back twice"):
        parse_multimodal(twice, out)
    with pytest.raises(ResponseValidationError, match="1 vectors for 2 rows"):
        parse_multimodal({"output": {"embeddings": twice["output"]["embeddings"][:1]}}, out)


@pytest.mark.parametrize(
    "message",
    [
        "<400> InternalError.Algo.InvalidParameter: Failed to download multimodal content",
        "url error, please check url！ For details, see: https://help.aliyun.com/x#error-url",
    ],
)
def test_a_url_the_service_cannot_fetch_is_a_content_fetch_error(message: str) -> None:
    body = {"code": "InvalidParameter", "message": message, "request_id": "r"}
    error = translate_status(400, body)
    assert isinstance(error, ContentFetchError) and error.request_id == "r"


# --- the emulator's contract and test images ---------------------------------------------------


def test_the_model_table_agrees_with_the_emulators_contract() -> None:
    assert set(MULTIMODAL_MODELS) == set(emulated.MULTIMODAL_MODELS)
    for name, spec in MULTIMODAL_MODELS.items():
        contract = emulated.MULTIMODAL_MODELS[name]
        assert spec.dimensions == contract.dimensions, name
        assert spec.items_per_request == contract.items_per_request, name
        assert spec.tokens_per_text == contract.tokens_per_text, name
        assert spec.image_bytes == contract.image_bytes, name
        assert spec.image_formats == contract.image_formats, name
        assert spec.fusion == contract.fusion, name


def test_captioned_png_is_a_valid_png_carrying_its_caption() -> None:
    data = captioned_png("a red bicycle", size=(16, 9))
    assert png_caption(data) == "a red bicycle" and png_size(data) == (16, 9)
    assert png_caption(b"not a png") is None
    pil = pytest.importorskip("PIL.Image")
    image = pil.open(io.BytesIO(data))
    image.load()
    assert image.size == (16, 9) and image.info.get("caption") == "a red bicycle"
