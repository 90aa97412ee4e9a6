"""The multimodal call driven by hand, without HTTP: a batch's files are read only when its
request is built, an item the service cannot fetch is isolated by halving and named with the
rest on ``partial``, fused groups are one request each, images counted on success."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings.core.execution import Outcome, Reply, Send
from modelstudio_embeddings.core.planning import Batch
from modelstudio_embeddings.core.retry import RetryPolicy
from modelstudio_embeddings.core.usage import UsageCounter
from modelstudio_embeddings.core.vector_call import EmbedRequests
from modelstudio_embeddings.core.vectors import EmbedOptions
from modelstudio_embeddings.multimodal import MULTIMODAL_MODELS
from modelstudio_embeddings.multimodal import items as items_module
from modelstudio_embeddings.multimodal.calling import MultimodalCall, MultimodalRequests
from modelstudio_embeddings.multimodal.planning import check_items, plan_requests
from modelstudio_embeddings.multimodal.wire import MULTIMODAL_PROTOCOL
from modelstudio_emulator.images import captioned_png

WIDTH = 4
SPEC = MULTIMODAL_MODELS["qwen3-vl-embedding"]
BAD_URL = "https://bucket.example/expired.png"


def make_call(rows: list[object], *, fusion: bool = False) -> tuple[MultimodalCall, UsageCounter]:
    usage = UsageCounter(SPEC)
    contents = check_items(rows, SPEC)
    groups = [[content] for content in contents]
    batches = (
        [Batch(i, i + 1) for i in range(len(groups))]
        if fusion
        else plan_requests([c.size for c in contents], items_per_request=4)
    )
    call = MultimodalCall(
        groups if fusion else contents,
        WIDTH,
        build=MultimodalRequests(SPEC.name, WIDTH, fusion),
        batches=batches,
        requests=EmbedRequests(
            protocol=MULTIMODAL_PROTOCOL,
            model=SPEC.name,
            dimensions=WIDTH,
            options=EmbedOptions(),
            base_url="https://example.invalid",
        ),
        rows_per_request=lambda: 1 if fusion else 4,
        learn_rows_per_request=lambda n: None,
        retry=RetryPolicy(max_retries=2, initial_delay=1.0, max_delay=2.0),
        usage=usage,
        rng=random.Random(1),
    )
    return call, usage


def answer(send: Send) -> Outcome:
    """The service: a vector ``[start + k] * WIDTH`` per item; 400 for a request with BAD_URL."""
    contents = send.request.body["input"]["contents"] if send.request.body else []
    if any(item.get("image") == BAD_URL for item in contents):
        return mse.errors.translate_status(
            400,
            {"code": "InvalidParameter", "message": "Failed to download multimodal content"},
            indices=send.batch.indices,
        )
    vectors = (
        1
        if send.request.body and send.request.body["parameters"].get("enable_fusion")
        else len(contents)
    )
    items = [
        {"index": k, "embedding": [float(send.batch.start + k)] * WIDTH} for k in range(vectors)
    ]
    return Reply(200, orjson.dumps({"output": {"embeddings": items}, "usage": {"input_tokens": 1}}))


def run(call: MultimodalCall, on_send: list[Send] | None = None) -> None:
    steps = call.drive()
    step = next(steps)
    try:
        while True:
            assert isinstance(step, Send)
            if on_send is not None:
                on_send.append(step)
            step = steps.send(answer(step))
    except StopIteration:
        pass


def test_a_batch_s_files_are_read_when_its_request_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for i in range(10):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(captioned_png(f"caption {i}"))
    reads: list[Path] = []

    def recording(path: Path) -> bytes:
        reads.append(path)
        return path.read_bytes()

    monkeypatch.setattr(items_module, "read_file", recording)
    call, usage = make_call(list(paths))
    assert reads == []
    read_by_send: list[int] = []
    steps = call.drive()
    step = next(steps)
    try:
        while True:
            assert isinstance(step, Send)
            read_by_send.append(len(reads))
            step = steps.send(answer(step))
    except StopIteration:
        pass
    assert read_by_send == [4, 8, 10]  # each request's files, when it is built
    assert call.result()[9].tolist() == [9.0] * WIDTH
    assert usage.snapshot().images == 10


def test_an_unfetchable_url_is_isolated_and_named() -> None:
    rows: list[object] = [f"text {i}" for i in range(8)]
    rows[5] = mse.multimodal.Image(BAD_URL)
    call, usage = make_call(rows)
    sent: list[Send] = []
    run(call, sent)
    with pytest.raises(mse.ContentFetchError) as caught:
        call.result()
    assert caught.value.indices == (5,)
    assert caught.value.partial is not None
    assert list(caught.value.partial.indices) == [0, 1, 2, 3, 4, 6, 7]
    assert [s.batch.rows for s in sent] == [4, 4, 2, 1, 1, 2]  # halved until it is alone
    assert usage.snapshot().rows == 7


def test_fused_groups_are_one_request_each_with_enable_fusion() -> None:
    call, _ = make_call(["a", "b", "c"], fusion=True)
    sent: list[Send] = []
    run(call, sent)
    assert [s.request.body["parameters"]["enable_fusion"] for s in sent if s.request.body] == [
        True
    ] * 3
    assert call.result().shape == (3, WIDTH)
