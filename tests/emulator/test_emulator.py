"""The emulator itself: the service contract over raw HTTP and the real SDK, meaningful vectors,
limits, control endpoints, the CLI and the pytest fixtures."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import openai
import pytest

from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.vectors import embed_text

NATIVE = "/api/v1/services/embeddings/text-embedding/text-embedding"


def post(
    emu: Emulator,
    body: object,
    *,
    path: str = "/compatible-mode/v1/embeddings",
    key: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(
        emu.host_url + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key or emu.api_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw), dict(error.headers)
        except ValueError:
            return error.code, raw.decode(), dict(error.headers)


def test_success_body_has_the_contract_shape(emulator: Emulator) -> None:
    status, body, headers = post(
        emulator, {"model": "text-embedding-v4", "input": ["a b", "c"], "dimensions": 64}
    )
    assert status == 200
    assert set(body) == {"data", "model", "object", "usage", "id"}
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert body["data"][0]["object"] == "embedding" and len(body["data"][0]["embedding"]) == 64
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    assert headers.get("x-request-id")


@pytest.mark.parametrize(
    ("body", "key", "status", "fragment"),
    [
        ({"model": "text-embedding-v4", "input": ["a"]}, "sk-wrong", 401, "Incorrect API key"),
        ({"model": "text-embedding-v9", "input": ["a"]}, None, 404, "Model not exist"),
        ({"model": "text-embedding-v4", "input": [[1, 2]]}, None, 400, "neither str nor list"),
        ({"model": "text-embedding-v4", "input": ["a"] * 11}, None, 400, "not be larger than 10"),
        ({"model": "text-embedding-v2", "input": ["a"] * 26}, None, 400, "not be larger than 25"),
        (
            {"model": "text-embedding-v4", "input": [""]},
            None,
            400,
            "Range of input length should be [1, 8192]",
        ),
        ({"model": "text-embedding-v1", "input": ["word " * 9000]}, None, 400, "[1, 2048]"),
        (
            {"model": "text-embedding-v4", "input": ["a"], "dimensions": 100},
            None,
            400,
            "shold be in",
        ),
        (
            {"model": "text-embedding-v4", "input": ["[[BLOCKED]] x"]},
            None,
            400,
            "inappropriate content",
        ),
    ],
)
def test_each_refusal_has_the_contract_body(
    emulator: Emulator, body: dict[str, Any], key: str | None, status: int, fragment: str
) -> None:
    got, payload, _ = post(emulator, body, key=key)
    assert got == status
    assert fragment in payload["error"]["message"]
    assert payload["request_id"] and payload["error"]["code"]


def test_v1_and_v2_ignore_dimensions(emulator: Emulator) -> None:
    _, body, _ = post(emulator, {"model": "text-embedding-v2", "input": ["a"], "dimensions": 64})
    assert len(body["data"][0]["embedding"]) == 1536


def test_base64_policies(emulator: Emulator) -> None:
    request = {
        "model": "text-embedding-v4",
        "input": ["a"],
        "encoding_format": "base64",
        "dimensions": 64,
    }
    emulator.configure(base64_policy="ignore")
    assert isinstance(post(emulator, request)[1]["data"][0]["embedding"], list)
    emulator.configure(base64_policy="honour")
    assert isinstance(post(emulator, request)[1]["data"][0]["embedding"], str)
    emulator.configure(base64_policy="reject")
    assert post(emulator, request)[0] == 400


def test_native_endpoint_speaks_its_own_format(emulator: Emulator) -> None:
    body = {
        "model": "text-embedding-v4",
        "input": {"texts": ["tea house", "tea"]},
        "parameters": {"dimension": 128, "output_type": "dense&sparse", "text_type": "query"},
    }
    status, payload, _ = post(emulator, body, path=NATIVE)
    assert status == 200
    items = payload["output"]["embeddings"]
    assert [i["text_index"] for i in items] == [0, 1] and len(items[0]["embedding"]) == 128
    assert {e["token"] for e in items[0]["sparse_embedding"]} == {"tea", "house"}
    assert payload["usage"]["total_tokens"] > 0 and payload["request_id"]
    status, flat, _ = post(emulator, body, path=NATIVE, key="sk-wrong")
    assert status == 401 and set(flat) == {"code", "message", "request_id"}


def test_vectors_are_unit_length_prefix_consistent_and_meaningful() -> None:
    full = embed_text("annual leave for new employees", 2048)
    short = embed_text("annual leave for new employees", 256)
    assert np.isclose(np.linalg.norm(full), 1.0, atol=1e-5)
    assert np.allclose(short, full[:256] / np.linalg.norm(full[:256]), atol=1e-6)
    query = embed_text("how much annual leave", 1024)
    near = embed_text("annual leave policy", 1024)
    far = embed_text("forklift safety shoes", 1024)
    assert float(query @ near) > float(query @ far) + 0.2
    assert np.array_equal(embed_text("same", 64), embed_text("same", 64))
    assert not np.isclose(
        np.linalg.norm(embed_text("v1 text", 1536, model="text-embedding-v1")), 1.0
    )


def test_the_real_sdk_gets_vectors_and_typed_sdk_errors(emulator: Emulator) -> None:
    client = openai.OpenAI(api_key=emulator.api_key, base_url=emulator.base_url, max_retries=0)
    result = client.embeddings.create(
        model="text-embedding-v4", input=["a", "b"], encoding_format="float", dimensions=64
    )
    assert len(result.data) == 2 and len(result.data[0].embedding) == 64
    emulator.script(Fault.rate_limited(retry_after=2))
    with pytest.raises(openai.RateLimitError) as info:
        client.embeddings.create(model="text-embedding-v4", input=["a"], encoding_format="float")
    assert info.value.response.headers["retry-after"] == "2"


def test_burst_limit_refuses_requests_beyond_the_bound(emulator: Emulator) -> None:
    emulator.configure(latency_ms=100, max_in_flight=2)
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(
                post(emulator, {"model": "text-embedding-v4", "input": ["a"]})[0]
            )
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(429) >= 1 and statuses.count(200) >= 2
    assert emulator.stats.peak_in_flight <= 2


def test_requests_per_second_limit(emulator: Emulator) -> None:
    emulator.configure(requests_per_second=2)
    statuses = [post(emulator, {"model": "text-embedding-v4", "input": ["a"]})[0] for _ in range(6)]
    assert 429 in statuses and statuses[0] == 200


def test_control_endpoints_script_configure_and_read(emulator: Emulator) -> None:
    def control(path: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            emulator.host_url + path, data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    control("/_emulator/script", [{"fault": "server_error"}])
    assert post(emulator, {"model": "text-embedding-v4", "input": ["a"]})[0] == 500
    control("/_emulator/config", {"max_in_flight": 0})
    assert post(emulator, {"model": "text-embedding-v4", "input": ["a"]})[0] == 429
    stats = control("/_emulator/stats")
    assert stats["requests"] == 2 and stats["responses_by_status"] == {"500": 1, "429": 1}
    assert len(control("/_emulator/log")["log"]) == 2
    control("/_emulator/reset", {})
    assert control("/_emulator/stats")["requests"] == 0


def test_the_log_never_records_the_key(emulator: Emulator) -> None:
    post(emulator, {"model": "text-embedding-v4", "input": ["a"]})
    record = emulator.log[0]
    assert record.headers["authorization"] == "<redacted>"
    assert emulator.api_key not in repr(record)


def test_the_cli_starts_answers_and_stops() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelstudio_emulator",
            "--port",
            "0",
            "--latency-ms",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "not the real model's" in line
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        client = openai.OpenAI(api_key="sk-emulator", base_url=base_url, max_retries=0)
        assert len(client.embeddings.create(model="text-embedding-v4", input="hi").data) == 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_cli_refuses_a_remote_host() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelstudio_emulator", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0 and "--allow-remote" in done.stderr


def test_fixture_gives_a_fresh_emulator(modelstudio_emulator: Emulator) -> None:
    assert modelstudio_emulator.log == []
    assert post(modelstudio_emulator, {"model": "text-embedding-v4", "input": ["a"]})[0] == 200


def test_env_fixture_points_the_environment_at_an_emulator(modelstudio_env: Emulator) -> None:
    from modelstudio_embeddings import EmbeddingClient

    assert EmbeddingClient().embed(["reads DASHSCOPE_* from the environment"]).shape == (1, 1024)
    assert modelstudio_env.stats.requests == 1


def test_a_request_from_before_a_reset_stays_out_of_the_new_log(emulator: Emulator) -> None:
    """A shared emulator is reset between tests; a slow request its client gave up on must not
    land in the next test's log or stats when it is finally answered."""
    emulator.script(Fault.slow(0.3))
    body = {"model": "text-embedding-v4", "input": ["old"]}
    late = threading.Thread(target=post, args=(emulator, body))
    late.start()
    while emulator.stats.in_flight == 0:
        threading.Event().wait(0.005)
    emulator.reset()
    assert post(emulator, {"model": "text-embedding-v4", "input": ["new"]})[0] == 200
    late.join()
    assert [record.texts for record in emulator.log] == [["new"]]
    assert emulator.stats.requests == 1 and emulator.stats.responses_by_status == {200: 1}


def test_the_suites_defaults_name_every_setting_of_a_fresh_emulator() -> None:
    """The ``emulator`` fixture puts these back before each test: a setting missing here
    would leak from the test that changed it into every later one."""
    from modelstudio_emulator.server import _SETTINGS
    from tests.conftest import EMULATOR_DEFAULTS

    assert set(EMULATOR_DEFAULTS) == set(_SETTINGS)
    fresh, restored = Emulator(), Emulator()
    restored.configure(**EMULATOR_DEFAULTS)
    settings = {name: getattr(fresh, name) for name in _SETTINGS}
    assert settings == {name: getattr(restored, name) for name in _SETTINGS}
