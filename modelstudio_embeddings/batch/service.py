"""The Batch API's calls, over the openai SDK (``files`` and ``batches`` resources).

Thin on purpose: the SDK carries the transport and the object types; this adds one boundary
where the SDK's exceptions become the library's by the real-time path's ``(status, code)``
table, the real-time path's ``RetryPolicy`` for what is transient (429, 5xx, timeouts,
connection errors), the look-ups that reconcile a run's intents (a file by its name, a job
by its ``metadata.ds_name``: before an upload or a job creation is sent again after an
answer that may have been lost, the service is asked whether it has it), and a streamed
download of a file's lines.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import openai
from openai.types import Batch

from ..core.errors import ModelStudioError
from ..core.retry import RetryPolicy
from ..core.transport import translate_sdk_error

__all__ = ["BatchService"]

T = TypeVar("T")


class BatchService:
    """Files and batches at one host with one key; every failure a ``ModelStudioError``."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float = 600.0,
        retry_policy: RetryPolicy | None = None,
    ):
        self._api_key = api_key
        self._base_url = base_url
        self.retry_policy = retry_policy or RetryPolicy()
        self._rng = random.Random()
        self.sdk = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def close(self) -> None:
        self.sdk.close()

    def _call(
        self,
        what: str,
        call: Callable[[], T],
        reconcile: Callable[[], T | None] | None = None,
    ) -> T:
        """``call()``, retried while transient, its final exception translated; ``what`` says
        which call it was. Before a call that creates state is sent again, ``reconcile()``
        asks whether the service has it already."""
        retries = 0
        while True:
            try:
                return call()
            except openai.OpenAIError as exc:
                error = self._error(what, exc)
            delay = self.retry_policy.delay(retries, error, self._rng)
            if delay is None:
                raise self._final(error, retries)
            time.sleep(delay)
            retries += 1
            if reconcile is not None:
                try:
                    found = reconcile()
                except ModelStudioError:
                    # Whether the service has it cannot be told: sending it again might
                    # create it twice, so stop here (a run resumed later looks again).
                    raise self._final(error, retries) from None
                if found is not None:
                    return found

    def _final(self, error: ModelStudioError, retries: int) -> ModelStudioError:
        hint = self.retry_policy.why_final(error, retries)
        if hint:
            error.message = f"{error.message} {hint}"
            error.args = (error.message,)
        return error

    def _error(self, what: str, exc: openai.OpenAIError) -> ModelStudioError:
        error = translate_sdk_error(exc, api_key=self._api_key, base_url=self._base_url)
        error.message = f"Batch API, {what}: {error.message}"
        error.args = (error.message,)
        return error

    def upload(self, path: str | Path, filename: str) -> str:
        """Upload a request file (``purpose=batch``); its file id."""

        def upload() -> str:
            with Path(path).open("rb") as handle:
                return self.sdk.files.create(file=(filename, handle), purpose="batch").id

        return self._call(f"uploading {filename}", upload, lambda: self.find_file(filename))

    def find_file(self, filename: str) -> str | None:
        """The id of an uploaded batch file with this name, if the service has one."""

        def find() -> str | None:
            for item in self.sdk.files.list(purpose="batch"):
                if item.filename == filename:
                    return item.id
            return None

        return self._call("listing files", find)

    def create(
        self, file_id: str, completion_window: str, metadata: dict[str, str], endpoint: str
    ) -> Batch:
        ds_name = metadata.get("ds_name")
        return self._call(
            f"creating the job for {file_id}",
            lambda: self.sdk.batches.create(
                input_file_id=file_id,
                endpoint=endpoint,  # type: ignore[arg-type]  # the SDK's literal lists OpenAI's
                completion_window=completion_window,  # type: ignore[arg-type]
                metadata=metadata,
            ),
            (lambda: self.find_job(ds_name)) if ds_name else None,
        )

    def find_job(self, ds_name: str) -> Batch | None:
        """The job created with ``metadata.ds_name`` equal to ``ds_name``, if any."""

        def find() -> Batch | None:
            for job in self.sdk.batches.list(limit=100):
                if (job.metadata or {}).get("ds_name") == ds_name:
                    return job
            return None

        return self._call("listing jobs", find)

    def retrieve(self, batch_id: str) -> Batch:
        return self._call(f"polling {batch_id}", lambda: self.sdk.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> Batch:
        return self._call(f"cancelling {batch_id}", lambda: self.sdk.batches.cancel(batch_id))

    def lines(self, file_id: str) -> Iterator[bytes]:
        """A file's lines, streamed (an output file can be far larger than memory)."""
        try:
            with self.sdk.files.with_streaming_response.content(file_id) as response:
                pending = b""
                for chunk in response.iter_bytes(1 << 20):
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    yield from (line for line in complete if line.strip())
                if pending.strip():
                    yield pending
        except openai.OpenAIError as exc:
            raise self._error(f"downloading {file_id}", exc) from None
