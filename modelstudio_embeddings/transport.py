"""Bounding a request's total time: httpx's timeouts bound each connect, write and read, so a
server that trickles its body a byte at a time could hold a request (and its call) forever.

The sync client goes through ``BoundedTransport``; the async one wraps each request in
``bounded``, which cancels it outright.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2

__all__ = ["BoundedTransport", "bounded"]


class BoundedTransport(httpx2.HTTPTransport):
    """``httpx2.HTTPTransport`` whose responses must finish within the request's read timeout,
    counted from when it was sent (the client sets that timeout to the request's budget)."""

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
