"""The emulator's multimodal endpoint over real HTTP: the answer's shape and usage, captions
that land images near their text, fusion, per-model limits and the service's errors in the
native flat envelope, moderation, unreachable URLs, auth and the log."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest

from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.images import captioned_png
from modelstudio_emulator.multimodal import MULTIMODAL_PATH, image_vector, text_vector


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def post(emu: Emulator, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or emu.api_key}"}
    return httpx.post(emu.host_url + MULTIMODAL_PATH, json=body, headers=headers, timeout=10)


def body_for(
    contents: list[dict[str, str]], model: str = "qwen3-vl-embedding", **parameters: Any
) -> dict[str, Any]:
    return {"model": model, "input": {"contents": contents}, "parameters": parameters}


def refused(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    payload: dict[str, Any] = response.json()
    assert set(payload) == {"code", "message", "request_id"}  # the native flat envelope
    return payload


def test_one_vector_per_item_placed_by_index_with_usage(emulator: Emulator) -> None:
    png = captioned_png("a red bicycle", size=(56, 28))
    contents = [
        {"text": "a red bicycle"},
        {"image": data_uri(png)},
        {"video": "https://e.com/v.mp4"},
    ]
    response = post(emulator, body_for(contents, dimension=1024))
    assert response.status_code == 200, response.text
    payload = response.json()
    items = payload["output"]["embeddings"]
    assert [(i["index"], i["type"]) for i in items] == [(0, "text"), (1, "image"), (2, "video")]
    assert all(len(i["embedding"]) == 1024 for i in items)
    assert np.allclose(items[0]["embedding"], text_vector("a red bicycle", 1024), atol=1e-6)
    assert np.allclose(items[1]["embedding"], image_vector(png, 1024), atol=1e-6)
    usage = payload["usage"]
    assert usage["input_tokens_details"]["image_tokens"] == 4 + 1024  # 56x28 px is 2 patches
    assert usage["image_count"] == 1
    assert (
        usage["input_tokens"]
        == usage["total_tokens"]
        == sum(usage["input_tokens_details"].values())
    )
    assert isinstance(payload["request_id"], str)


def test_a_captioned_image_is_nearest_to_its_own_caption(emulator: Emulator) -> None:
    captions = [f"a red bicycle number {i}" for i in range(5)] + ["a bowl of noodles"]
    images = [{"image": data_uri(captioned_png(c))} for c in captions]
    response = post(emulator, body_for(images, dimension=2560))
    vectors = np.array([i["embedding"] for i in response.json()["output"]["embeddings"]])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for i, caption in enumerate(captions):
        scores = vectors @ text_vector(caption, 2560)
        assert int(np.argmax(scores)) == i
        assert scores[i] > 0.9


def test_fusion_makes_one_vector_of_the_whole_request(emulator: Emulator) -> None:
    contents = [{"text": "a red bicycle"}, {"image": data_uri(captioned_png("a red bicycle"))}]
    response = post(emulator, body_for(contents, dimension=512, enable_fusion=True))
    (item,) = response.json()["output"]["embeddings"]
    assert item["index"] == 0 and len(item["embedding"]) == 512
    refusal = refused(
        post(emulator, body_for(contents, "tongyi-embedding-vision-plus", enable_fusion=True))
    )
    assert "enable_fusion" in refusal["message"]


def test_each_model_answers_at_its_default_width(emulator: Emulator) -> None:
    for model, width in (
        ("qwen3-vl-embedding", 2560),
        ("tongyi-embedding-vision-plus", 1152),
        ("tongyi-embedding-vision-flash", 768),
        ("multimodal-embedding-v1", 1024),
    ):
        response = post(emulator, body_for([{"text": "hello"}], model))
        assert len(response.json()["output"]["embeddings"][0]["embedding"]) == width, model


@pytest.mark.parametrize(
    ("model", "limit"), [("qwen3-vl-embedding", 20), ("tongyi-embedding-vision-plus", 8)]
)
def test_too_many_items_are_refused_saying_the_limit(
    emulator: Emulator, model: str, limit: int
) -> None:
    contents = [{"text": f"item {i}"} for i in range(limit + 1)]
    payload = refused(post(emulator, body_for(contents, model)))
    assert f"should not be larger than {limit}" in payload["message"]
    assert post(emulator, body_for(contents[:limit], model)).status_code == 200


def test_image_limits_and_formats_are_the_models(emulator: Emulator) -> None:
    big = captioned_png("big", padding=3 * 1024 * 1024)  # over 3 MB, under 5 MB
    plus = refused(
        post(emulator, body_for([{"image": data_uri(big)}], "tongyi-embedding-vision-plus"))
    )
    assert "exceeds the limit of 3 MB" in plus["message"]
    assert post(emulator, body_for([{"image": data_uri(big)}])).status_code == 200
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(32)
    assert post(emulator, body_for([{"image": data_uri(webp, "image/webp")}])).status_code == 200
    flash = body_for([{"image": data_uri(webp, "image/webp")}], "tongyi-embedding-vision-flash")
    assert "format webp is not supported" in refused(post(emulator, flash))["message"]


def test_urls_the_service_will_not_or_cannot_fetch(emulator: Emulator) -> None:
    url_error = refused(post(emulator, body_for([{"image": "ftp://example.com/a.png"}])))
    assert url_error["code"] == "InvalidParameter" and "url error" in url_error["message"]
    gone = refused(post(emulator, body_for([{"image": "https://bucket.invalid/a.png?Expires=1"}])))
    assert "Failed to download multimodal content" in gone["message"]
    video = refused(post(emulator, body_for([{"video": "https://cdn.invalid/clip.mp4"}])))
    assert "Failed to download multimodal content" in video["message"]


def test_a_text_model_on_this_endpoint_gets_url_error(emulator: Emulator) -> None:
    payload = refused(post(emulator, body_for([{"text": "hi"}], "text-embedding-v4")))
    assert "url error" in payload["message"]
    assert refused(post(emulator, body_for([{"text": "hi"}], "no-such-model")), 404)


def test_too_long_texts_and_bad_widths_are_refused(emulator: Emulator) -> None:
    long = refused(post(emulator, body_for([{"text": "word " * 2000}], "multimodal-embedding-v1")))
    assert "Range of input length should be [1, 512]" in long["message"]
    width = refused(post(emulator, body_for([{"text": "hi"}], dimension=64)))
    assert "dimension is invalid" in width["message"]


def test_moderation_looks_at_texts_urls_and_captions(emulator: Emulator) -> None:
    for content in (
        {"text": "[[BLOCKED]] words"},
        {"image": "https://example.com/[[BLOCKED]].png"},
        {"image": data_uri(captioned_png("a [[BLOCKED]] picture"))},
    ):
        payload = refused(post(emulator, body_for([{"text": "fine"}, content])))
        assert payload["code"] == "DataInspectionFailed"


def test_auth_faults_and_the_log(emulator: Emulator) -> None:
    refused(post(emulator, body_for([{"text": "hi"}]), key="sk-wrong"), 401)
    emulator.script(Fault.server_error(match="a red bicycle"))
    png = captioned_png("a red bicycle")
    refused(post(emulator, body_for([{"image": data_uri(png)}])), 500)
    assert post(emulator, body_for([{"image": data_uri(png)}])).status_code == 200
    last = emulator.log[-1]
    assert last.path == MULTIMODAL_PATH and last.protocol == "native"
    assert last.texts == ["a red bicycle"] and last.rows == 1 and last.status == 200
    assert emulator.stats.rows_embedded == 1
