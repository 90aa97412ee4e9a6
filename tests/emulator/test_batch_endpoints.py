"""The emulator's Batch API over real HTTP with the openai SDK: lifecycle, limits, faults,
output formats, batch-test-model, auth and counters. The clock is compressed to tenths of a
second; no test asserts tight timing."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
from openai.types import Batch

from modelstudio_emulator import Emulator
from modelstudio_emulator.faults import BatchFault
from modelstudio_emulator.vectors import embed_texts

BATCH_DEFAULTS: dict[str, Any] = {
    "batch_validation_seconds": 0.02,
    "batch_seconds_per_request": 0.01,
    "batch_duration": None,
    "batch_finalizing_seconds": 0.02,
    "batch_output_format": "openai",
    "batch_output_order": "shuffled",
    "batch_limits": None,
}


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    emulator.configure(**BATCH_DEFAULTS)
    return emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emu.base_url, api_key=emu.api_key, max_retries=0) as sdk:
        yield sdk


def line(
    custom_id: str, text: str | list[str], model: str = "text-embedding-v4", **body: Any
) -> str:
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": model, "input": text, **body},
        }
    )


def upload(client: openai.OpenAI, lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    return client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch").id


def start(client: openai.OpenAI, lines: list[str], **kwargs: Any) -> Batch:
    return client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/embeddings",
        completion_window=kwargs.pop("completion_window", "24h"),
        **kwargs,
    )


def wait(client: openai.OpenAI, batch_id: str, until: set[str], timeout: float = 10) -> Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until or time.monotonic() > deadline:
            return batch
        time.sleep(0.01)


def rows(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(text) for text in client.files.content(file_id).text.splitlines()]


def texts(n: int) -> list[str]:
    return [line(str(i), f"document number {i} about batches") for i in range(n)]


# --- lifecycle -------------------------------------------------------------------------------


def test_full_lifecycle_with_progress_and_real_time_vectors(
    emu: Emulator, client: openai.OpenAI
) -> None:
    emu.configure(batch_seconds_per_request=0.02)
    created = start(client, texts(20), metadata={"ds_name": "corpus", "ds_description": "x"})
    assert created.status == "validating" and created.metadata == {
        "ds_name": "corpus",
        "ds_description": "x",
    }
    seen: list[tuple[str, int]] = []
    batch = created
    while batch.status != "completed":
        batch = client.batches.retrieve(created.id)
        assert batch.request_counts is not None
        seen.append((batch.status, batch.request_counts.completed))
        time.sleep(0.01)
    statuses = [s for s, _ in seen]
    assert {"in_progress", "finalizing", "completed"} <= set(statuses)
    progress = [done for s, done in seen if s == "in_progress"]
    assert progress == sorted(progress) and any(0 < d < 20 for d in progress)
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (20, 20)
    assert batch.error_file_id is None and batch.completed_at is not None
    out = rows(client, batch.output_file_id)
    assert sorted(r["custom_id"] for r in out) == sorted(str(i) for i in range(20))
    first = next(r for r in out if r["custom_id"] == "3")
    assert first["error"] is None and first["response"]["status_code"] == 200
    body = first["response"]["body"]
    assert body["object"] == "list" and body["model"] == "text-embedding-v4"
    assert body["usage"]["prompt_tokens"] > 0
    expected = embed_texts(["document number 3 about batches"], 1024, model="text-embedding-v4")
    np.testing.assert_allclose(body["data"][0]["embedding"], expected[0], rtol=1e-6)
    assert client.batches.list().data[0].id == created.id


def test_output_order_input_and_dimensions(emu: Emulator, client: openai.OpenAI) -> None:
    emu.configure(batch_output_order="input")
    lines = [line(str(i), f"t{i}", dimensions=64) for i in range(5)]
    batch = wait(client, start(client, lines).id, {"completed"})
    out = rows(client, batch.output_file_id)
    assert [r["custom_id"] for r in out] == ["0", "1", "2", "3", "4"]
    assert all(len(r["response"]["body"]["data"][0]["embedding"]) == 64 for r in out)


def test_real_time_rules_send_lines_to_the_error_file(emu: Emulator, client: openai.OpenAI) -> None:
    lines = [
        line("ok", "fine"),
        line("too-many-rows", [f"r{i}" for i in range(11)]),
        line("bad-width", "x", dimensions=7),
        line("moderated", "this is [[BLOCKED]]"),
    ]
    batch = wait(client, start(client, lines).id, {"completed"})
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 3)
    errors = {r["custom_id"]: r for r in rows(client, batch.error_file_id)}
    assert set(errors) == {"too-many-rows", "bad-width", "moderated"}
    response = errors["too-many-rows"]["response"]
    assert response["status_code"] == 400 and errors["too-many-rows"]["error"] is None
    assert "batch size is invalid" in response["body"]["error"]["message"]
    assert errors["moderated"]["response"]["body"]["error"]["code"] == "data_inspection_failed"
    assert [r["custom_id"] for r in rows(client, batch.output_file_id)] == ["ok"]
    assert emu.batch.stats.lines_billed == 1


def test_files_metadata_delete_and_list(emu: Emulator, client: openai.OpenAI) -> None:
    file_id = upload(client, texts(2))
    meta = client.files.retrieve(file_id)
    assert (meta.purpose, meta.filename, meta.object) == ("batch", "input.jsonl", "file")
    assert file_id in [f.id for f in client.files.list().data]
    assert client.files.delete(file_id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_missing")


def test_list_pages(emu: Emulator, client: openai.OpenAI) -> None:
    file_id = upload(client, texts(1))
    ids = [
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert [b.id for b in client.batches.list(limit=2, after=ids[1]).data] == [ids[0]]


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "content", "needle"),
    [
        ({"max_lines": 3}, "\n".join(texts(4)), "4 lines"),
        ({"max_file_bytes": 100}, "\n".join(texts(2)), "bytes; at most 100"),
        ({"max_line_bytes": 50}, "\n".join(texts(1)), "Line 1 is"),
        (None, "not json\n", "not a JSON object"),
        (None, "[1, 2]\n", "not a JSON object"),
    ],
)
def test_upload_limits(
    emu: Emulator,
    client: openai.OpenAI,
    limits: dict[str, int] | None,
    content: str,
    needle: str,
) -> None:
    emu.configure(batch_limits=limits)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("f.jsonl", io.BytesIO(content.encode())), purpose="batch")
    assert needle in caught.value.message
    assert emu.batch.stats.uploads == 0


def test_upload_rejects_non_utf8_and_wrong_purpose(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="UTF-8"):
        client.files.create(file=("f.jsonl", io.BytesIO(b'{"a": "\xff"}\n')), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.files.create(file=("f.jsonl", io.BytesIO(texts(1)[0].encode())), purpose="fine-tune")


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([line("1", "a"), line("2", "b", model="text-embedding-v3")], "mixed_models"),
        ([line("1", "a"), line("1", "b")], "duplicate_custom_id"),
        ([line("1", "a", model="text-embedding-v9")], "model_not_supported"),
        ([line("1", "a").replace("/v1/embeddings", "/v1/chat/completions")], "invalid_url"),
    ],
)
def test_validation_failures_end_the_job_failed(
    client: openai.OpenAI, lines: list[str], code: str
) -> None:
    batch = wait(client, start(client, lines).id, {"failed", "completed"})
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == code
    assert batch.output_file_id is None and batch.error_file_id is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"completion_window": "23h"}, "completion_window"),
        ({"completion_window": "337h"}, "completion_window"),
        ({"completion_window": "soon"}, "completion_window"),
        ({"metadata": {"ds_name": "n" * 101}}, "ds_name"),
    ],
)
def test_create_rejects_bad_parameters(
    client: openai.OpenAI, kwargs: dict[str, Any], needle: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=needle):
        start(client, texts(1), **kwargs)


def test_window_bounds_and_days_are_accepted(client: openai.OpenAI) -> None:
    for window in ("24h", "336h", "14d"):
        assert start(client, texts(1), completion_window=window).completion_window == window


def test_create_rejects_other_endpoints_and_unknown_files(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="endpoint"):
        client.batches.create(
            input_file_id=upload(client, texts(1)),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-nope", endpoint="/v1/embeddings", completion_window="24h"
        )


# --- faults ----------------------------------------------------------------------------------


def test_fault_fail_validation(emu: Emulator, client: openai.OpenAI) -> None:
    emu.batch.script(BatchFault.fail_validation(code="InvalidFile", message="scripted"))
    batch = wait(client, start(client, texts(3)).id, {"failed", "completed"})
    assert batch.status == "failed" and batch.failed_at is not None
    assert batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].message == "scripted"
    assert emu.batch.stats.lines_billed == 0


@pytest.mark.parametrize("rest", ["error_file", "dropped"])
def test_fault_expire_half_done(emu: Emulator, client: openai.OpenAI, rest: str) -> None:
    emu.batch.script(BatchFault.expire(0.5, rest=rest))
    batch = wait(client, start(client, texts(10)).id, {"expired", "completed"})
    assert batch.status == "expired" and batch.expired_at is not None
    done = {r["custom_id"] for r in rows(client, batch.output_file_id)}
    assert done == {str(i) for i in range(5)}
    if rest == "dropped":
        assert batch.error_file_id is None
    else:
        errors = rows(client, batch.error_file_id)
        assert {r["custom_id"] for r in errors} == {str(i) for i in range(5, 10)}
        assert all(r["response"] is None for r in errors)
        assert {r["error"]["code"] for r in errors} == {"batch_expired"}
    assert emu.batch.stats.lines_billed == 5


def test_cancel_mid_way_keeps_finished_lines(emu: Emulator, client: openai.OpenAI) -> None:
    emu.batch.script(BatchFault.hold(0.4))
    created = start(client, texts(10))
    held = created
    while held.request_counts is None or held.request_counts.completed < 4:
        held = client.batches.retrieve(created.id)
        time.sleep(0.01)
    assert held.status == "in_progress"
    cancelling = client.batches.cancel(created.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    batch = wait(client, created.id, {"cancelled"})
    assert batch.status == "cancelled"
    assert len(rows(client, batch.output_file_id)) == 4
    assert emu.batch.stats.lines_billed == 4 and emu.batch.stats.cancels == 1
    with pytest.raises(openai.BadRequestError, match="Cannot cancel"):
        client.batches.cancel(created.id)


def test_fault_line_errors(emu: Emulator, client: openai.OpenAI) -> None:
    emu.batch.script(BatchFault.line_error("number 2", status=500, code="InternalError"))
    batch = wait(client, start(client, texts(4)).id, {"completed"})
    errors = rows(client, batch.error_file_id)
    assert [r["custom_id"] for r in errors] == ["2"]
    assert errors[0]["response"]["status_code"] == 500
    assert errors[0]["response"]["body"]["error"]["code"] == "InternalError"


def test_fault_malformed_output_line(emu: Emulator, client: openai.OpenAI) -> None:
    emu.batch.script(BatchFault.malformed_output())
    batch = wait(client, start(client, texts(4)).id, {"completed"})
    assert batch.output_file_id is not None
    raw = client.files.content(batch.output_file_id).text.splitlines()
    parsed = 0
    for text in raw:
        try:
            json.loads(text)
            parsed += 1
        except ValueError:
            pass
    assert (len(raw), parsed) == (4, 3)


def test_faults_over_the_control_endpoint(emu: Emulator, client: openai.OpenAI) -> None:
    request = urllib.request.Request(
        emu.host_url + "/_emulator/batch_script",
        data=json.dumps([BatchFault.none().to_json(), {"fault": "expire", "fraction": 0}]).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert wait(client, start(client, texts(2)).id, {"completed"}).status == "completed"
    assert wait(client, start(client, texts(2)).id, {"expired"}).status == "expired"
    with urllib.request.urlopen(emu.host_url + "/_emulator/batch_stats", timeout=10) as response:
        assert json.loads(response.read())["jobs_created"] == 2


# --- output formats --------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["openai", "error_object", "flat"])
def test_output_formats(emu: Emulator, client: openai.OpenAI, output_format: str) -> None:
    emu.configure(batch_output_format=output_format)
    lines = [line("good", "fine"), line("bad", "x", dimensions=7)]
    batch = wait(client, start(client, lines).id, {"completed"})
    (good,) = rows(client, batch.output_file_id)
    (bad,) = rows(client, batch.error_file_id)
    if output_format == "flat":
        assert set(good) == {"custom_id", "status_code", "body"} and good["status_code"] == 200
        assert bad["status_code"] == 400 and bad["body"]["error"]["code"] == "InvalidParameter"
        return
    assert good["response"]["status_code"] == 200 and good["error"] is None
    if output_format == "openai":
        assert bad["response"]["status_code"] == 400 and bad["error"] is None
        assert bad["response"]["body"]["error"]["code"] == "InvalidParameter"
    else:
        assert bad["response"] is None and bad["error"]["code"] == "InvalidParameter"
        assert "dimension" in bad["error"]["message"]


def test_unknown_output_format_is_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError):
        emu.configure(batch_output_format="csv")


# --- batch-test-model, auth, counters --------------------------------------------------------


def test_batch_test_model_validates_without_inference(emu: Emulator, client: openai.OpenAI) -> None:
    emu.configure(batch_seconds_per_request=10.0)  # would take minutes if it ran
    lines = [line(str(i), "hi", model="batch-test-model") for i in range(3)]
    lines.append(
        line("3", "hi", model="batch-test-model").replace("/v1/embeddings", "/v1/chat/ds-test")
    )
    batch = wait(client, start(client, lines).id, {"completed", "failed"})
    assert batch.status == "completed"
    out = rows(client, batch.output_file_id)
    assert len(out) == 4 and all(r["response"]["body"]["data"] == [] for r in out)
    assert emu.batch.stats.lines_billed == 0


def test_batch_test_model_limits(emu: Emulator, client: openai.OpenAI) -> None:
    many = [line(str(i), "hi", model="batch-test-model") for i in range(101)]
    batch = wait(client, start(client, many).id, {"completed", "failed"})
    assert batch.status == "failed" and batch.errors is not None
    emu.configure(batch_validation_seconds=5.0)
    few = upload(client, many[:2])
    for _ in range(2):
        client.batches.create(input_file_id=few, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(openai.RateLimitError):
        client.batches.create(input_file_id=few, endpoint="/v1/embeddings", completion_window="24h")


def test_auth_is_required_everywhere(emu: Emulator) -> None:
    with openai.OpenAI(base_url=emu.base_url, api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.files.create(file=("f.jsonl", io.BytesIO(texts(1)[0].encode())), purpose="batch")
        with pytest.raises(openai.AuthenticationError):
            bad.batches.list()
        with pytest.raises(openai.AuthenticationError):
            bad.files.content("file-x")
    assert {r.status for r in emu.log} == {401}
    assert emu.batch.stats.uploads == 0


def test_counters_and_log(emu: Emulator, client: openai.OpenAI) -> None:
    batch = wait(client, start(client, texts(3)).id, {"completed"})
    for _ in range(3):
        client.files.content(batch.output_file_id or "")
    stats = emu.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed, stats.downloads) == (1, 1, 3, 3)
    assert stats.bytes_uploaded > 0 and stats.bytes_downloaded > stats.bytes_uploaded
    uploads = [r for r in emu.log if r.path.endswith("/files") and r.status == 200]
    creates = [r for r in emu.log if r.path.endswith("/batches") and r.body is not None]
    assert len(uploads) == 1 and uploads[0].body == {
        "filename": "input.jsonl",
        "purpose": "batch",
        "bytes": stats.bytes_uploaded,
    }
    assert len(creates) == 1 and creates[0].protocol == "batch"
    assert all(r.headers.get("authorization") == "<redacted>" for r in emu.log)
    emu.reset()
    assert emu.batch.stats.uploads == 0
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve(batch.id)
