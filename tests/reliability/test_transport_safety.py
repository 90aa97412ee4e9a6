"""The key only ever goes to the host the user configured (no plain http to remote hosts, and
no redirects followed), over TLS that verifies certificates.

A redirect cannot be expressed by the emulator (it is the service, not a proxy in front of it),
so two tiny loopback servers stand in: one that redirects, one that records what reaches it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings import EmbeddingClient

KEY = "sk-redirect-secret-42"


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def redirecting_host() -> Iterator[tuple[str, list[dict[str, str]]]]:
    _Recorder.seen = []
    target, target_url = _serve(_Recorder)

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target_url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    source, source_url = _serve(Redirect)
    yield source_url, _Recorder.seen
    source.shutdown()
    target.shutdown()


def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(
    redirecting_host: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen_by_target = redirecting_host
    client = EmbeddingClient(api_key=KEY, base_url=url)
    with pytest.raises(mse.ModelStudioError, match="redirect") as info:
        client.embed(["hello"])
    assert info.value.status_code == 307
    assert seen_by_target == []
    assert KEY not in str(info.value)


def test_plain_http_to_a_remote_host_is_refused_before_any_request() -> None:
    with pytest.raises(mse.ConfigurationError, match="unencrypted"):
        EmbeddingClient(api_key=KEY, base_url="http://dashscope.aliyuncs.com")


async def test_every_client_shares_one_verifying_tls_context() -> None:
    """Certificates are still verified, but the CA bundle is read once per process, not once
    per SDK client (about 15 ms each: the sync one and one per event loop)."""
    contexts = []
    for _ in range(2):
        client = EmbeddingClient(api_key="sk-test", base_url="https://dashscope.aliyuncs.com")
        for sdk in (client._executor.sync._sdk(), await client._executor.async_._sdk()):
            contexts.append(sdk._client._transport._pool._ssl_context)  # httpx2's TLS context
        await client.aclose()
    assert all(context is contexts[0] for context in contexts)
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
