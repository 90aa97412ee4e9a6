"""EmbeddingClient: thin sync and async executors over the pure layer.

``embed`` runs a call's steps on a per-client thread pool, ``aembed`` on asyncio with an
``AsyncOpenAI`` client; both share one in-flight bound, one retry layer and one usage count.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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
    HostNotFoundError,
    ModelStudioError,
    RateLimitError,
    ResponseValidationError,
    translate_status,
    translate_success_error,
)
from .execution import Call, Driver, Send, Sleep
from .limiter import ConcurrencyLimiter
from .models import DEFAULT_MODEL
from .planning import Batch, least_tokens, rows_over_limit, too_long_error, validate_texts
from .progress import progress_bar
from .retry import RetryPolicy
from .tokens import LazyCounter
from .transport import BoundedTransport, bounded
from .usage import Usage, UsageCounter
from .wire import PROTOCOLS, EmbedOptions, SparseEmbedding, decode_json, validate_options

__all__ = ["EmbeddingClient"]

DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_INITIAL_CONCURRENCY = 8
DEFAULT_TIMEOUT = 60.0
_DEADLINE_GRACE = 0.05
"""How long past a deadline a sync call waits for its requests to time out by themselves."""


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
        self._limiter = self._new_limiter()
        # Sync calls made on a thread whose event loop is running wait here instead: the
        # shared bound's async holders could only release their slots on that blocked loop.
        self._loop_thread_limiter = self._new_limiter()
        self._usage = UsageCounter(self.spec)
        self._rows_per_request = self.spec.rows_per_request
        self._lock = threading.Lock()
        self._sync_client: openai.OpenAI | None = None
        self._pool: ThreadPoolExecutor | None = None
        # One SDK client per event loop, closed by the loop's own shutdown (see _open_async).
        self._async_clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        _LIVE_CLIENTS.add(self)

    def _new_limiter(self) -> ConcurrencyLimiter:
        return ConcurrencyLimiter(
            self.max_concurrency,
            initial=min(self.max_concurrency, DEFAULT_INITIAL_CONCURRENCY),
            adaptive=self._settings["adaptive_concurrency"],
        )

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
        """Carry out one call on the thread pool; the finished Call (result not yet checked).

        An interrupt, a worker's failure or the deadline stops the call's other workers
        before their next request or retry; a call with a deadline returns at it."""
        planned = self._planned(texts, options, show_progress, progress, deadline, lists)
        limiter = self._limiter_for_this_thread()
        with planned as (call, workers):
            if workers == 1 and call.deadline is None:
                self._run_sync(call, limiter)
            elif workers >= 1:
                pool = self._thread_pool()
                futures: list[Future[None]] = [
                    pool.submit(self._run_sync, call, limiter) for _ in range(workers)
                ]
                try:
                    _wait_for_workers(call, futures)
                except BaseException:
                    call.stop()
                    raise
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
        """Carry out one call on the running loop; cancelling it cancels its requests, and
        at the deadline the requests still in flight are cancelled."""
        planned = self._planned(texts, options, show_progress, progress, deadline, lists)
        with planned as (call, workers):
            tasks = [asyncio.ensure_future(self._run_async(call)) for _ in range(workers)]
            try:
                if tasks:
                    done, pending = await asyncio.wait(
                        tasks, timeout=call.time_left(), return_when=asyncio.FIRST_EXCEPTION
                    )
                    if pending:
                        if not any(task.exception() for task in done):
                            call.expire()
                        await _cancel(call, pending)
                    for task in done:
                        task.result()  # a worker's unexpected failure is the call's
            except BaseException:
                await _cancel(call, tasks)
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
        entry = self._async_clients.get(asyncio.get_running_loop())
        if entry is not None:
            await entry.closer.aclose()
        self.close()

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's pool threads do not exist here and its connections
        are the parent's. Drop them unclosed (closing would end the parent's TLS sessions);
        they are rebuilt on first use."""
        self._lock = threading.Lock()
        self._pool = None
        self._sync_client = None
        self._async_clients = {}
        self._limiter.reset_after_fork()
        self._loop_thread_limiter.reset_after_fork()
        self._usage.reset_after_fork()

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
        # Without exact counts, refuse only what is over for certain: the service decides the
        # rest, and a row it refuses is isolated and named like a moderated one.
        exact = self._tokens.exact
        truncate = self.on_too_long == "truncate"
        count = self._tokens.count if exact or truncate else least_tokens
        too_long = rows_over_limit(rows, limit, count)
        if not too_long:
            return rows
        if not truncate:
            error = too_long_error(too_long, limit, self.model, exact=exact)
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
            timeout=self.timeout,
        )

    def _learn_rows_per_request(self, limit: int) -> None:
        with self._lock:
            self._rows_per_request = max(1, min(self._rows_per_request, limit))

    def _request(self, call: Call, batch: Batch) -> dict[str, Any]:
        """The JSON body of one batch in this client's protocol."""
        dimensions = self.dimensions if self.spec.accepts_dimensions else None
        texts = call.texts[batch.start : batch.stop]
        return self._wire.body(self.model, texts, dimensions, call.options)

    def _absorb(self, call: Call, batch: Batch, status: int, content: bytes) -> None:
        """Parse one 2xx answer into the call's rows and count it."""
        out = call.out[batch.start : batch.stop] if call.options.dense else None
        try:
            if status != 200 or not content:
                raise ResponseValidationError(
                    f"The service answered {status} with {len(content)} bytes, not 200 with "
                    "the vectors."
                )
            payload = decode_json(content)
            if _is_error_envelope(payload):
                raise translate_success_error(payload, secret=self._config.api_key)
            parsed = self._wire.parse(payload, out, call.options, batch.rows)
        except (ModelStudioError, ValueError, TypeError) as exc:
            error = (
                exc
                if isinstance(exc, ModelStudioError)
                else ResponseValidationError(f"The service's response is not usable: {exc}.")
            )
            raise error._bind(
                model=self.model, base_url=self.base_url, indices=batch.indices
            ) from None
        if parsed.sparse is not None:
            call.absorb_sparse(batch, parsed.sparse)
        call.absorb_lists(batch)
        self._usage.add(rows=batch.rows, prompt_tokens=parsed.prompt_tokens or 0)

    def _translate(
        self, exc: openai.OpenAIError, batch: Batch, limiter: ConcurrencyLimiter, sent_in: int
    ) -> ModelStudioError:
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
                limiter.record_throttle(sent_in)
            return error
        if isinstance(exc, openai.APITimeoutError):
            return APITimeoutError(
                "No complete answer from the service within the request's time "
                f"(timeout={self.timeout} s, or less before the call's deadline).",
                **context,
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = _root_cause(exc)
            what = f"{type(cause).__name__}: {cause}"
            if isinstance(cause, socket.gaierror):
                return HostNotFoundError(
                    f"The host of {self.base_url} does not resolve ({what}); check base_url "
                    "or region (e.g. https://dashscope.aliyuncs.com).",
                    **context,
                )
            return APIConnectionError(
                _redact(f"Could not reach {self.base_url}: {what}", self._config.api_key),
                **context,
            )
        return ModelStudioError(f"Unexpected SDK error: {type(exc).__name__}", **context)

    def _limiter_for_this_thread(self) -> ConcurrencyLimiter:
        """The shared bound, unless this thread runs an event loop (see ``__init__``)."""
        in_loop = asyncio._get_running_loop() is not None
        return self._loop_thread_limiter if in_loop else self._limiter

    # --- the sync executor -------------------------------------------------------------------

    def _run_sync(self, call: Call, limiter: ConcurrencyLimiter) -> None:
        steps = call.drive()
        outcome: ModelStudioError | None = None
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    call.stopped.wait(step.seconds)  # a stopped call wakes at once
                    outcome = None
                else:
                    outcome = self._send_sync(call, step, limiter)
                step = steps.send(outcome)
        except StopIteration:
            return

    def _send_sync(
        self, call: Call, step: Send, limiter: ConcurrencyLimiter
    ) -> ModelStudioError | None:
        client = self._openai_sync()
        try:
            sent_in = limiter.acquire(timeout=call.time_left())
        except TimeoutError:
            return _no_slot(step)
        try:
            self._usage.add(requests=1)
            response = client.post(
                self._endpoint,
                body=self._request(call, step.batch),
                cast_to=httpx2.Response,
                options={"timeout": call.request_timeout()},
            )
        except openai.OpenAIError as exc:
            return self._failed(exc, step, limiter, sent_in)
        finally:
            limiter.release()
        return self._received(call, step, limiter, response)

    def _failed(
        self, exc: openai.OpenAIError, step: Send, limiter: ConcurrencyLimiter, sent_in: int
    ) -> ModelStudioError:
        """Count a request the SDK raised for, and translate it (both executors)."""
        self._usage.add(failed_requests=1)
        return self._translate(exc, step.batch, limiter, sent_in)

    def _received(
        self, call: Call, step: Send, limiter: ConcurrencyLimiter, response: httpx2.Response
    ) -> ModelStudioError | None:
        """Absorb a 2xx answer into the call; its validation error, if any (both executors)."""
        try:
            self._absorb(call, step.batch, response.status_code, response.content)
        except ModelStudioError as exc:
            self._usage.add(failed_requests=1)
            return exc
        limiter.record_success()
        return None

    def _openai_sync(self) -> openai.OpenAI:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = openai.OpenAI(
                    api_key=self._config.api_key,
                    base_url=self.base_url,
                    max_retries=0,
                    timeout=self.timeout,
                    http_client=openai.DefaultHttpxClient(**self._sync_http_options()),
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

    def _sync_http_options(self) -> dict[str, Any]:
        """The sync client's: the same, through a transport that bounds each request's total
        time (httpx bounds each socket read only, so a trickling body could last forever)."""
        options = self._http_options()
        transport = BoundedTransport(limits=options.pop("limits"), verify=options.pop("verify"))
        return {**options, "transport": transport}

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
        client = await self._openai_async()
        limiter = self._limiter
        sent_in = await limiter.acquire_async()
        try:
            self._usage.add(requests=1)
            timeout = call.request_timeout()
            request = client.post(
                self._endpoint,
                body=self._request(call, step.batch),
                cast_to=httpx2.Response,
                options={"timeout": timeout},
            )
            async with bounded(timeout):  # the whole request, not only each socket read
                response = await request
        except openai.OpenAIError as exc:
            return self._failed(exc, step, limiter, sent_in)
        except TimeoutError:
            return self._failed(openai.APITimeoutError(request=_NO_REQUEST), step, limiter, 0)
        finally:
            limiter.release()
        return self._received(call, step, limiter, response)

    async def _openai_async(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        entry = self._async_clients.get(loop)
        if entry is None:
            entry = self._open_async(loop)
            await entry.closer.asend(None)
        return entry.client

    def _open_async(self, loop: asyncio.AbstractEventLoop) -> _LoopClient:
        """An SDK client for ``loop``, closed when the loop shuts down: its closer is an async
        generator, which ``asyncio.run`` (and every runner) closes before closing the loop.
        Each ``asyncio.run(client.aembed(...))`` so leaves no loop, client or socket behind."""
        for old in [old for old in self._async_clients if old.is_closed()]:
            _abandon(self._async_clients.pop(old).closer)  # closed without a shutdown
        client = openai.AsyncOpenAI(
            api_key=self._config.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
            http_client=openai.DefaultAsyncHttpxClient(**self._http_options()),
        )
        entry = _LoopClient(client, _close_with_loop(self._async_clients, loop, client))
        self._async_clients[loop] = entry
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


def _wait_for_workers(call: Call, futures: list[Future[None]]) -> None:
    """Wait for a sync call's workers; at the deadline (and a short grace for requests that
    time out by themselves) the call ends, its requests still in flight abandoned."""
    time_left = call.time_left()
    timeout = None if time_left is None else time_left + _DEADLINE_GRACE
    done, pending = wait(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
    for future in done:
        if future.exception() is not None:
            call.stop()
            future.result()
    if pending:
        call.expire()


async def _cancel(call: Call, tasks: Any) -> None:
    call.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _no_slot(step: Send) -> ModelStudioError:
    return APITimeoutError(
        "The call's deadline passed while waiting for a request slot.", indices=step.batch.indices
    )


def _is_error_envelope(payload: object) -> bool:
    """A success status whose body is the service's error envelope, not vectors."""
    if not isinstance(payload, Mapping):
        return False
    if "data" in payload or "output" in payload:
        return False
    return isinstance(payload.get("error"), Mapping) or "code" in payload


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of the chain (explicit causes, else implicit contexts)."""
    seen = {id(exc)}
    cause = exc
    while (inner := cause.__cause__ or cause.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        cause = inner
    return cause


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "<redacted>")


_NO_REQUEST = httpx2.Request("POST", "http://localhost/")

_LIVE_CLIENTS: weakref.WeakSet[EmbeddingClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_LIVE_CLIENTS):
        client._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
