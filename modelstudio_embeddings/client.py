"""EmbeddingClient: thin sync and async executors over the pure layer.

``embed`` runs a call's steps on a per-client thread pool, ``aembed`` on asyncio with an
``AsyncOpenAI`` client; both share one in-flight bound, one retry layer and one usage count.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

import httpx2
import numpy as np
import numpy.typing as npt
import openai

from .config import resolve_config, resolve_dimensions, resolve_model
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    ModelStudioError,
    RateLimitError,
    translate_status,
)
from .execution import Call, Driver, Send, Sleep
from .limiter import ConcurrencyLimiter
from .models import DEFAULT_MODEL
from .planning import Batch, rows_over_limit, too_long_error, validate_texts
from .progress import progress_bar
from .retry import RetryPolicy
from .tokens import LazyCounter
from .usage import Usage, UsageCounter
from .wire import PROTOCOLS, EmbedOptions, SparseEmbedding, decode_json, validate_options

__all__ = ["EmbeddingClient"]

DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_INITIAL_CONCURRENCY = 8
DEFAULT_TIMEOUT = 60.0


class EmbeddingClient:
    """Embeds texts with one Model Studio model: ``embed`` (sync) and ``aembed`` (asyncio).

    Row i of the result is the vector of text i. Requests respect the model's row and token
    limits, run up to ``max_concurrency`` at once across every call on this client, and are
    retried (alone) only for 429, 5xx, timeouts and connection errors.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int = RetryPolicy.max_retries,
        timeout: float = DEFAULT_TIMEOUT,
        show_progress: bool = False,
        adaptive_concurrency: bool = True,
        allow_insecure_http: bool = False,
        retry_policy: RetryPolicy | None = None,
        protocol: str = "compatible",
        on_too_long: str = "error",
        tokenizer: str = "auto",
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigurationError(
                f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}."
            )
        self.protocol = protocol
        self._wire = PROTOCOLS[protocol]
        if on_too_long not in ("error", "truncate"):
            raise ConfigurationError(
                f"on_too_long must be 'error' or 'truncate', got {on_too_long!r}."
            )
        self.on_too_long = on_too_long
        self._tokens = LazyCounter(tokenizer)
        self.spec = resolve_model(model)
        self.model = self.spec.name
        self.dimensions = resolve_dimensions(self.spec, dimensions)
        self._config = resolve_config(
            api_key=api_key,
            base_url=base_url,
            region=region,
            workspace_id=workspace_id,
            allow_insecure_http=allow_insecure_http,
        )
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        if timeout <= 0:
            raise ConfigurationError("timeout must be a positive number of seconds")
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.show_progress = show_progress
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._settings: dict[str, Any] = {
            "model": model,
            "dimensions": dimensions,
            "base_url": base_url,
            "region": region,
            "workspace_id": workspace_id,
            "max_concurrency": max_concurrency,
            "max_retries": max_retries,
            "timeout": timeout,
            "show_progress": show_progress,
            "adaptive_concurrency": adaptive_concurrency,
            "allow_insecure_http": allow_insecure_http,
            "retry_policy": retry_policy,
            "protocol": protocol,
            "on_too_long": on_too_long,
            "tokenizer": tokenizer,
        }
        self._limiter = ConcurrencyLimiter(
            max_concurrency,
            initial=min(max_concurrency, DEFAULT_INITIAL_CONCURRENCY),
            adaptive=adaptive_concurrency,
        )
        self._usage = UsageCounter(self.spec)
        self._rows_per_request = self.spec.rows_per_request
        self._lock = threading.Lock()
        self._sync_client: openai.OpenAI | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, openai.AsyncOpenAI
        ] = weakref.WeakKeyDictionary()

    # --- public ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The compatible-mode base URL (the host, for the native protocol)."""
        return self._config.compatible_url if self.protocol == "compatible" else self.host_url

    @property
    def host_url(self) -> str:
        """Scheme and host of the service, e.g. ``https://dashscope.aliyuncs.com``."""
        return self._config.host_url

    @property
    def _endpoint(self) -> str:
        return self._config.host_url + self._wire.path

    @property
    def usage(self) -> Usage:
        """What this client has done so far: requests, retries, rows, tokens, estimated cost."""
        return self._usage.snapshot()

    @property
    def rows_per_request(self) -> int:
        """The row limit in force: the model table's, or a lower one the service announced."""
        return self._rows_per_request

    @property
    def peak_in_flight(self) -> int:
        """The most requests this client has had in flight at once."""
        return self._limiter.peak_in_flight

    @property
    def accepts_text_type(self) -> bool:
        """Whether ``text_type`` may be sent: the native protocol with v3 or v4."""
        return self.protocol == "native" and self.spec.text_types

    @property
    def accepts_instruct(self) -> bool:
        """Whether ``instruct`` may be sent: the native protocol with v4."""
        return self.protocol == "native" and self.spec.instruct

    @property
    def accepts_sparse(self) -> bool:
        """Whether sparse vectors can be asked for: the native protocol with v3 or v4."""
        return self.protocol == "native" and self.spec.sparse

    def options_for(self, text_type: str, instruct: str | None = None) -> dict[str, Any]:
        """``text_type`` (and ``instruct`` for queries) where this protocol and model take them,
        else nothing: what the adapters send on their query and document paths."""
        if not self.accepts_text_type:
            return {}
        options: dict[str, Any] = {"text_type": text_type}
        if text_type == "query" and instruct and self.accepts_instruct:
            options["instruct"] = instruct
        return options

    def embed(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed ``texts``; an array of shape ``(len(texts), dimensions)``, row i for text i.

        ``text_type`` ("query" or "document") and ``instruct`` need the native protocol.
        ``deadline`` bounds the whole call in seconds; ``progress`` is called with the number
        of rows each finished request embedded.
        """
        options = self._options(text_type, instruct, "dense")
        return self._run(texts, options, show_progress, progress, deadline).result()

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> npt.NDArray[np.float32]:
        """The same as ``embed``, natively on asyncio; cancelling it cancels its requests."""
        options = self._options(text_type, instruct, "dense")
        call = await self._arun(texts, options, show_progress, progress, deadline)
        return call.result()

    def embed_lists(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> list[list[float]]:
        """``embed`` as Python floats, for frameworks that want lists. Each request's rows are
        converted as it lands, while later requests are still in flight, not all at the end."""
        options = self._options(text_type, instruct, "dense")
        call = self._run(texts, options, show_progress, progress, deadline, lists=True)
        return call.result_lists()

    async def aembed_lists(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> list[list[float]]:
        """The same as ``embed_lists``, natively on asyncio."""
        options = self._options(text_type, instruct, "dense")
        call = await self._arun(texts, options, show_progress, progress, deadline, lists=True)
        return call.result_lists()

    def embed_sparse(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> list[SparseEmbedding]:
        """Sparse vectors only (native protocol, v3/v4), one per text, for keyword-aware search."""
        options = self._options(text_type, instruct, "sparse")
        return _sparse_rows(self._run(texts, options, show_progress, None, None))

    async def aembed_sparse(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> list[SparseEmbedding]:
        """The same as ``embed_sparse``, natively on asyncio."""
        options = self._options(text_type, instruct, "sparse")
        return _sparse_rows(await self._arun(texts, options, show_progress, None, None))

    def embed_hybrid(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[SparseEmbedding]]:
        """Dense and sparse vectors from one request per batch (``output_type="dense&sparse"``)."""
        options = self._options(text_type, instruct, "dense&sparse")
        call = self._run(texts, options, show_progress, None, None)
        return call.result(), _sparse_rows(call)

    async def aembed_hybrid(
        self,
        texts: Sequence[str],
        *,
        text_type: str | None = None,
        instruct: str | None = None,
        show_progress: bool | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[SparseEmbedding]]:
        """The same as ``embed_hybrid``, natively on asyncio."""
        options = self._options(text_type, instruct, "dense&sparse")
        call = await self._arun(texts, options, show_progress, None, None)
        return call.result(), _sparse_rows(call)

    def _run(
        self,
        texts: Sequence[str],
        options: EmbedOptions,
        show_progress: bool | None,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        *,
        lists: bool = False,
    ) -> Call:
        """Carry out one call on the thread pool; the finished Call (result not yet checked)."""
        planned = self._planned(texts, options, show_progress, progress, deadline, lists)
        with planned as (call, workers):
            if workers == 1:
                self._run_sync(call)
            elif workers > 1:
                pool = self._thread_pool()
                futures: list[Future[None]] = [
                    pool.submit(self._run_sync, call) for _ in range(workers)
                ]
                try:
                    wait(futures)
                except BaseException:
                    call.stop()
                    raise
                for future in futures:
                    future.result()
        return call

    async def _arun(
        self,
        texts: Sequence[str],
        options: EmbedOptions,
        show_progress: bool | None,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        *,
        lists: bool = False,
    ) -> Call:
        """Carry out one call on the running loop; cancelling it cancels its requests."""
        planned = self._planned(texts, options, show_progress, progress, deadline, lists)
        with planned as (call, workers):
            tasks = [asyncio.ensure_future(self._run_async(call)) for _ in range(workers)]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                call.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        return call

    @contextmanager
    def _planned(
        self,
        texts: Sequence[str],
        options: EmbedOptions,
        show_progress: bool | None,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        lists: bool,
    ) -> Iterator[tuple[Call, int]]:
        """A validated, planned call with its progress bar, and how many workers it needs."""
        rows = self._prepare(texts)
        with progress_bar(self._wants_progress(show_progress), len(rows)) as bar:
            call = self._new_call(rows, options, _chain(bar, progress), deadline, lists)
            yield call, min(self.max_concurrency, call.batches_pending)

    def close(self) -> None:
        """Release the thread pool and the sync HTTP connections."""
        with self._lock:
            pool, self._pool = self._pool, None
            client, self._sync_client = self._sync_client, None
        if pool is not None:
            pool.shutdown(wait=False)
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Release the HTTP connections of the running loop's async client, and ``close``."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.pop(loop, None)
        if client is not None:
            await client.close()
        self.close()

    def __enter__(self) -> EmbeddingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddingClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"EmbeddingClient(model={self.model!r}, dimensions={self.dimensions}, "
            f"base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The key is never pickled: the copy reads DASHSCOPE_API_KEY where it is unpickled.
        return (_unpickle_client, (dict(self._settings),))

    # --- the pure parts, shared by both executors --------------------------------------------

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        """Validated rows, each within the token limit (cut down if ``on_too_long="truncate"``)."""
        rows = validate_texts(texts)
        limit = self.spec.tokens_per_row
        too_long = rows_over_limit(rows, limit, self._tokens.count)
        if not too_long:
            return rows
        if self.on_too_long == "error":
            error = too_long_error(too_long, limit, self.model, exact=self._tokens.exact)
            raise error._bind(base_url=self.base_url)
        for i, _ in too_long:
            rows[i] = self._tokens.truncate(rows[i], limit)
        self._usage.add(truncated_rows=len(too_long))
        return rows

    def _wants_progress(self, show_progress: bool | None) -> bool:
        return self.show_progress if show_progress is None else show_progress

    def _options(self, text_type: str | None, instruct: str | None, output: str) -> EmbedOptions:
        options = EmbedOptions(text_type=text_type, instruct=instruct, output_type=output)
        validate_options(self.spec, self.protocol, options)
        return options

    def _new_call(
        self,
        rows: list[str],
        options: EmbedOptions,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        lists: bool = False,
    ) -> Call:
        return Call(
            rows,
            self.dimensions,
            options=options,
            lists=lists,
            rows_per_request=lambda: self._rows_per_request,
            learn_rows_per_request=self._learn_rows_per_request,
            retry=self.retry_policy,
            usage=self._usage,
            progress=progress,
            deadline=None if deadline is None else time.monotonic() + deadline,
        )

    def _learn_rows_per_request(self, limit: int) -> None:
        with self._lock:
            self._rows_per_request = max(1, min(self._rows_per_request, limit))

    def _request(self, call: Call, batch: Batch) -> dict[str, Any]:
        """The JSON body of one batch in this client's protocol."""
        dimensions = self.dimensions if self.spec.accepts_dimensions else None
        texts = call.texts[batch.start : batch.stop]
        return self._wire.body(self.model, texts, dimensions, call.options)

    def _absorb(self, call: Call, batch: Batch, content: bytes) -> None:
        """Parse one 200 body into the call's rows and count it."""
        out = call.out[batch.start : batch.stop] if call.options.dense else None
        try:
            parsed = self._wire.parse(decode_json(content), out, call.options, batch.rows)
        except ModelStudioError as exc:
            raise exc._bind(
                model=self.model, base_url=self.base_url, indices=batch.indices
            ) from None
        if call.sparse is not None and parsed.sparse is not None:
            call.sparse[batch.start : batch.stop] = parsed.sparse
        if call.lists is not None and out is not None:
            call.lists[batch.start : batch.stop] = out.tolist()
        self._usage.add(rows=batch.rows, prompt_tokens=parsed.prompt_tokens or 0)
        self._limiter.record_success()

    def _translate(self, exc: openai.OpenAIError, batch: Batch, sent_in: int) -> ModelStudioError:
        """The library error for what the SDK raised; the one place SDK errors are read.
        ``sent_in`` is the limiter's epoch when the request went out."""
        indices = batch.indices
        context: dict[str, Any] = {
            "model": self.model,
            "base_url": self.base_url,
            "indices": indices,
        }
        if isinstance(exc, openai.APIStatusError):
            response = exc.response
            try:
                body: object = decode_json(response.content)
            except ModelStudioError:
                body = response.text
            error = translate_status(
                response.status_code,
                body,
                headers=response.headers,
                secret=self._config.api_key,
                **context,
            )
            if isinstance(error, RateLimitError):
                self._usage.add(throttled=1)
                self._limiter.record_throttle(sent_in)
            return error
        if isinstance(exc, openai.APITimeoutError):
            return APITimeoutError(
                f"No answer from the service within {self.timeout} s.", **context
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return APIConnectionError(
                f"Could not reach {self.base_url}: {type(cause).__name__}: {cause}".replace(
                    self._config.api_key, "<redacted>"
                ),
                **context,
            )
        return ModelStudioError(f"Unexpected SDK error: {type(exc).__name__}", **context)

    # --- the sync executor -------------------------------------------------------------------

    def _run_sync(self, call: Call) -> None:
        steps = call.drive()
        outcome: ModelStudioError | None = None
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    outcome = None
                else:
                    outcome = self._send_sync(call, step)
                step = steps.send(outcome)
        except StopIteration:
            return

    def _send_sync(self, call: Call, step: Send) -> ModelStudioError | None:
        client = self._openai_sync()
        sent_in = self._limiter.acquire()
        try:
            self._usage.add(requests=1)
            response = client.post(
                self._endpoint, body=self._request(call, step.batch), cast_to=httpx2.Response
            )
        except openai.OpenAIError as exc:
            return self._failed(exc, step, sent_in)
        finally:
            self._limiter.release()
        return self._received(call, step, response.content)

    def _failed(self, exc: openai.OpenAIError, step: Send, sent_in: int) -> ModelStudioError:
        """Count a request the SDK raised for, and translate it (both executors)."""
        self._usage.add(failed_requests=1)
        return self._translate(exc, step.batch, sent_in)

    def _received(self, call: Call, step: Send, content: bytes) -> ModelStudioError | None:
        """Absorb a 200 body into the call; its validation error, if any (both executors)."""
        try:
            self._absorb(call, step.batch, content)
        except ModelStudioError as exc:
            self._usage.add(failed_requests=1)
            return exc
        return None

    def _openai_sync(self) -> openai.OpenAI:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = openai.OpenAI(
                    api_key=self._config.api_key,
                    base_url=self.base_url,
                    max_retries=0,
                    timeout=self.timeout,
                    http_client=openai.DefaultHttpxClient(**self._http_options()),
                )
            return self._sync_client

    def _thread_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_concurrency, thread_name_prefix="modelstudio-embed"
                )
            return self._pool

    def _http_options(self) -> dict[str, Any]:
        """What both SDK clients' HTTP clients are built with: no redirects (the key goes to the
        configured host only), a pool for ``max_concurrency``, the process's TLS context."""
        return {
            "follow_redirects": False,
            "limits": httpx2.Limits(
                max_connections=max(self.max_concurrency * 2, 32),
                max_keepalive_connections=max(self.max_concurrency, 16),
            ),
            "verify": _tls_context(),
        }

    # --- the async executor ------------------------------------------------------------------

    async def _run_async(self, call: Call) -> None:
        steps: Driver = call.drive()
        outcome: ModelStudioError | None = None
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    outcome = None
                else:
                    outcome = await self._send_async(call, step)
                step = steps.send(outcome)
        except StopIteration:
            return

    async def _send_async(self, call: Call, step: Send) -> ModelStudioError | None:
        client = self._openai_async()
        sent_in = await self._limiter.acquire_async()
        try:
            self._usage.add(requests=1)
            response = await client.post(
                self._endpoint, body=self._request(call, step.batch), cast_to=httpx2.Response
            )
        except openai.OpenAIError as exc:
            return self._failed(exc, step, sent_in)
        finally:
            self._limiter.release()
        return self._received(call, step, response.content)

    def _openai_async(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=self._config.api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout,
                http_client=openai.DefaultAsyncHttpxClient(**self._http_options()),
            )
            self._async_clients[loop] = client
        return client


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context, as httpx builds it by default, for every client in the process: each
    build reads the CA bundle (about 15 ms), which every SDK client would otherwise repeat."""
    return httpx2.create_ssl_context()


def _chain(
    first: Callable[[int], None] | None, second: Callable[[int], None] | None
) -> Callable[[int], None] | None:
    if first is None or second is None:
        return first or second

    def both(rows: int) -> None:
        first(rows)
        second(rows)

    return both


def _unpickle_client(settings: dict[str, Any]) -> EmbeddingClient:
    if not os.environ.get("DASHSCOPE_API_KEY"):
        raise ConfigurationError(
            "An unpickled EmbeddingClient reads its key from DASHSCOPE_API_KEY (keys are never "
            "pickled); set it before unpickling."
        )
    return EmbeddingClient(**settings)


def _sparse_rows(call: Call) -> list[SparseEmbedding]:
    call.result()  # raises if any row failed
    assert call.sparse is not None
    return [row for row in call.sparse if row is not None]
