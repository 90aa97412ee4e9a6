"""Transports: the only code that talks HTTP. They own the SDK clients (one sync, one per event
loop), the worker threads, the process's TLS context, and the mapping of the SDK's exceptions
to the library's errors. Every kind of request (embeddings, and later files, batches and
rerank) goes through them.

httpx bounds each connect, write and read, not a whole request, so a server that trickles its
body could hold a request forever: the sync client reads through ``BoundedTransport``, the
async one wraps each request in ``bounded``. After ``fork`` a child drops what it inherited
(the parent's threads do not exist there; its connections are the parent's) and rebuilds.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai

from .answers import decode_json
from .config import ResolvedConfig
from .errors import (
    APIConnectionError,
    APITimeoutError,
    HostNotFoundError,
    ModelStudioError,
    translate_status,
)
from .execution import Reply, Request
from .forking import forget_in_children

__all__ = [
    "AsyncTransport",
    "BoundedTransport",
    "SyncTransport",
    "bounded",
    "translate_sdk_error",
]


class _Transport:
    """What both transports share: where requests go, the key, and the SDK error mapping."""

    def __init__(
        self, config: ResolvedConfig, base_url: str, *, model: str, timeout: float, slots: int
    ) -> None:
        self._config = config
        self.base_url = base_url
        self._model = model
        self._timeout = timeout
        self._slots = slots
        forget_in_children(self)

    def _url(self, request: Request) -> str:
        return self._config.host_url + request.path

    def _http_options(self) -> dict[str, Any]:
        """No redirects (the key goes to the configured host only), a pool sized for the
        requests in flight, the process's one TLS context."""
        return {
            "follow_redirects": False,
            "limits": httpx2.Limits(
                max_connections=max(self._slots * 2, 32),
                max_keepalive_connections=max(self._slots, 16),
            ),
            "verify": _tls_context(),
        }

    def _sdk_options(self) -> dict[str, Any]:
        return {
            "api_key": self._config.api_key,
            "base_url": self.base_url,
            "max_retries": 0,  # one retry layer: ours
            "timeout": self._timeout,
        }

    def translate(self, exc: openai.OpenAIError, indices: Iterable[int]) -> ModelStudioError:
        """The library error for what the SDK raised (``translate_sdk_error``)."""
        return translate_sdk_error(
            exc,
            api_key=self._config.api_key,
            base_url=self.base_url,
            model=self._model,
            timeout=self._timeout,
            indices=indices,
        )

    def forget_after_fork(self) -> None:
        """In a forked child: drop what the parent's threads and connections were."""


class SyncTransport(_Transport):
    """The sync SDK client and the worker threads of sync calls."""

    def __init__(
        self, config: ResolvedConfig, base_url: str, *, model: str, timeout: float, slots: int
    ) -> None:
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._pool: ThreadPoolExecutor | None = None
        super().__init__(config, base_url, model=model, timeout=timeout, slots=slots)

    def send(self, request: Request, timeout: float | None, indices: Iterable[int]) -> Reply:
        """Carry out ``request`` within ``timeout`` seconds in all; a library error if not."""
        try:
            response = self._sdk().post(
                self._url(request),
                body=request.body,
                cast_to=httpx2.Response,
                options={"timeout": timeout},
            )
        except openai.OpenAIError as exc:
            raise self.translate(exc, indices) from None
        return Reply(response.status_code, response.content)

    def pool(self) -> ThreadPoolExecutor:
        """The threads sync calls fan out on, one per request slot."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._slots, thread_name_prefix="modelstudio-embed"
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            client, self._client = self._client, None
        if pool is not None:
            pool.shutdown(wait=False)
        if client is not None:
            client.close()

    def forget_after_fork(self) -> None:
        # Dropped unclosed: closing would end the parent's TLS sessions on shared sockets.
        self._lock = threading.Lock()
        self._pool = None
        self._client = None

    def _sdk(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                options = self._http_options()
                transport = BoundedTransport(
                    limits=options.pop("limits"), verify=options.pop("verify")
                )
                self._client = openai.OpenAI(
                    **self._sdk_options(),
                    http_client=openai.DefaultHttpxClient(**options, transport=transport),
                )
            return self._client


class AsyncTransport(_Transport):
    """One async SDK client per event loop, each closed by its loop's own shutdown."""

    def __init__(
        self, config: ResolvedConfig, base_url: str, *, model: str, timeout: float, slots: int
    ) -> None:
        self._clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        super().__init__(config, base_url, model=model, timeout=timeout, slots=slots)

    async def send(self, request: Request, timeout: float | None, indices: Iterable[int]) -> Reply:
        """Carry out ``request`` within ``timeout`` seconds in all; a library error if not."""
        client = await self._sdk()
        try:
            async with bounded(timeout):  # the whole request, not only each socket read
                response = await client.post(
                    self._url(request),
                    body=request.body,
                    cast_to=httpx2.Response,
                    options={"timeout": timeout},
                )
        except openai.OpenAIError as exc:
            raise self.translate(exc, indices) from None
        except TimeoutError:
            raise self.translate(openai.APITimeoutError(request=_NO_REQUEST), indices) from None
        return Reply(response.status_code, response.content)

    async def aclose(self) -> None:
        """Close the running loop's client now."""
        entry = self._clients.get(asyncio.get_running_loop())
        if entry is not None:
            await entry.closer.aclose()

    @property
    def open_loops(self) -> int:
        """Event loops this transport still has a client for (0 after each asyncio.run)."""
        return len(self._clients)

    def forget_after_fork(self) -> None:
        self._clients = {}

    async def _sdk(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            entry = self._open(loop)
            await entry.closer.asend(None)
        return entry.client

    def _open(self, loop: asyncio.AbstractEventLoop) -> _LoopClient:
        """A client for ``loop``, closed when the loop shuts down: its closer is an async
        generator, which ``asyncio.run`` (and every runner) closes before closing the loop.
        Each ``asyncio.run(client.aembed(...))`` so leaves no loop, client or socket behind."""
        for old in [old for old in self._clients if old.is_closed()]:
            _abandon(self._clients.pop(old).closer)  # closed without a shutdown
        client = openai.AsyncOpenAI(
            **self._sdk_options(),
            http_client=openai.DefaultAsyncHttpxClient(**self._http_options()),
        )
        entry = _LoopClient(client, _close_with_loop(self._clients, loop, client))
        self._clients[loop] = entry
        return entry


class _LoopClient:
    """One event loop's SDK client and the async generator that closes it with the loop."""

    __slots__ = ("client", "closer")

    def __init__(self, client: openai.AsyncOpenAI, closer: AsyncGenerator[None, None]) -> None:
        self.client = client
        self.closer = closer


async def _close_with_loop(
    clients: dict[asyncio.AbstractEventLoop, _LoopClient],
    loop: asyncio.AbstractEventLoop,
    client: openai.AsyncOpenAI,
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        clients.pop(loop, None)
        await client.close()


def _abandon(closer: AsyncGenerator[None, None]) -> None:
    """Finish the closer of a loop that was closed without shutting its generators down, so
    it is not finalised later on that dead loop; its sockets close when collected."""
    step = closer.aclose()
    try:
        step.send(None)
    except BaseException:
        pass
    finally:
        step.close()


def translate_sdk_error(
    exc: openai.OpenAIError,
    *,
    api_key: str,
    base_url: str,
    model: str | None = None,
    timeout: float | None = None,
    indices: Iterable[int] | None = None,
) -> ModelStudioError:
    """The library error for what the SDK raised, by the one ``(status, code)`` table, the key
    redacted; the one place SDK errors are read (real-time calls and the Batch API alike)."""
    context: dict[str, Any] = {"model": model, "base_url": base_url, "indices": indices}
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        try:
            body: object = decode_json(response.content)
        except ModelStudioError:
            body = response.text
        return translate_status(
            response.status_code, body, headers=response.headers, secret=api_key, **context
        )
    if isinstance(exc, openai.APITimeoutError):
        within = f" (timeout={timeout} s, or less before the call's deadline)" if timeout else ""
        return APITimeoutError(
            f"No complete answer from the service within the request's time{within}.", **context
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = _root_cause(exc)
        what = f"{type(cause).__name__}: {cause}".replace(api_key, "<redacted>")
        if isinstance(cause, socket.gaierror):
            return HostNotFoundError(
                f"The host of {base_url} does not resolve ({what}); check base_url "
                "or region (e.g. https://dashscope.aliyuncs.com).",
                **context,
            )
        if isinstance(cause, ConnectionRefusedError):
            final = (
                f"Could not reach {base_url}: the connection was refused ({what}): nothing "
                "listens there; check base_url and the port."
            )
        elif isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLEOFError):
            final = (
                f"TLS with {base_url} failed ({what}): an https:// URL to a plain-HTTP port, or "
                "a proxy or certificate that does not verify."
            )
        else:
            return APIConnectionError(f"Could not reach {base_url}: {what}", **context)
        error = APIConnectionError(f"{final} Not retried.", **context)
        error.heals = False  # a retry cannot mend it
        return error
    return ModelStudioError(f"Unexpected SDK error: {type(exc).__name__}", **context)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of the chain (explicit causes, else implicit contexts)."""
    seen = {id(exc)}
    cause = exc
    while (inner := cause.__cause__ or cause.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        cause = inner
    return cause


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context, as httpx builds it by default, for every client in the process: each
    build reads the CA bundle (about 15 ms), which every SDK client would otherwise repeat."""
    return httpx2.create_ssl_context()


_NO_REQUEST = httpx2.Request("POST", "http://localhost/")

# --- a request's total time --------------------------------------------------------------------


class BoundedTransport(httpx2.HTTPTransport):
    """``httpx2.HTTPTransport`` whose responses must finish within the request's read timeout,
    counted from when it was sent (the sender sets that timeout to the request's budget)."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        started = time.monotonic()
        response = super().handle_request(request)
        budget = _read_timeout(request)
        if budget is None:
            return response
        assert isinstance(response.stream, httpx2.SyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_BoundedStream(response.stream, started + budget, request),
            extensions=response.extensions,
        )


class _BoundedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, due: float, request: httpx2.Request) -> None:
        self._inner = inner
        self._due = due
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._due:
                self.close()
                raise httpx2.ReadTimeout(
                    "the response took longer than the request's time", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _read_timeout(request: httpx2.Request) -> float | None:
    timeouts: Any = request.extensions.get("timeout") or {}
    value = timeouts.get("read")
    return float(value) if isinstance(value, int | float) else None


if sys.version_info >= (3, 11):

    def bounded(seconds: float | None) -> asyncio.Timeout:
        """Cancel what runs inside after ``seconds`` (TimeoutError); no bound for None."""
        return asyncio.timeout(seconds)

else:  # pragma: no cover  (Python 3.10)

    @asynccontextmanager
    async def bounded(seconds: float | None) -> AsyncIterator[None]:
        """Cancel what runs inside after ``seconds`` (TimeoutError); no bound for None."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = None if seconds is None else loop.call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            if handle is not None:
                handle.cancel()
