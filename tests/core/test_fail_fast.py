"""Failures a retry cannot mend are raised at once, and retries are logged (issue "The open
slot"): a refused port and an ``https://`` URL to a plain-HTTP port fail on the first attempt
with a message that says why; a retried request logs one WARNING, a 429 one INFO line."""

from __future__ import annotations

import logging
import socket

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings import EmbeddingClient
from modelstudio_emulator import Emulator, Fault
from tests.conftest import FAST_RETRY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_port_fails_at_once() -> None:
    client = EmbeddingClient(
        api_key="sk-x", base_url=f"http://127.0.0.1:{free_port()}", retry_policy=FAST_RETRY
    )
    with client, pytest.raises(mse.APIConnectionError, match="refused") as info:
        client.embed(["hello"])
    assert not info.value.heals and client.usage.retries == 0


def test_https_to_a_plain_http_port_fails_at_once(emulator: Emulator) -> None:
    plain = emulator.base_url.replace("http://", "https://")
    client = EmbeddingClient(api_key=emulator.api_key, base_url=plain, retry_policy=FAST_RETRY)
    with client, pytest.raises(mse.APIConnectionError, match="TLS") as info:
        client.embed(["hello"])
    assert not info.value.heals and client.usage.retries == 0


def test_each_retried_request_logs_one_line(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.script(Fault.server_error(), Fault.server_error(), Fault.rate_limited())
    caplog.set_level(logging.INFO, logger="modelstudio_embeddings")
    with EmbeddingClient(
        api_key=emulator.api_key,
        base_url=emulator.base_url,
        retry_policy=FAST_RETRY,
        max_concurrency=1,
        rate_limit=False,
    ) as client:
        client.embed(["one request"])
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert [r.levelno for r in retries] == [logging.WARNING]  # three failures, one request
    assert "ServiceUnavailableError" in retries[0].getMessage()
    caplog.clear()
    emulator.script(Fault.rate_limited())
    with EmbeddingClient(
        api_key=emulator.api_key, base_url=emulator.base_url, retry_policy=FAST_RETRY
    ) as client:
        client.embed(["another"])
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert [r.levelno for r in retries] == [logging.INFO]
