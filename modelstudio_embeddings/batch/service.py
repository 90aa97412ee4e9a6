"""The Batch API's calls, over the openai SDK (``files`` and ``batches`` resources).

Thin on purpose: the SDK carries the transport, retries of failed connections and the object
types; this adds the look-ups that reconcile a run's intents after a crash (a file by its
name, a job by its ``metadata.ds_name``) and a streamed download of a file's lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
from openai.types import Batch

__all__ = ["BatchService"]


class BatchService:
    """Files and batches at one host with one key."""

    def __init__(
        self, api_key: str, base_url: str, *, timeout: float = 600.0, max_retries: int = 5
    ):
        self.sdk = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def close(self) -> None:
        self.sdk.close()

    def upload(self, path: str | Path, filename: str) -> str:
        """Upload a request file (``purpose=batch``); its file id."""
        with Path(path).open("rb") as handle:
            return self.sdk.files.create(file=(filename, handle), purpose="batch").id

    def find_file(self, filename: str) -> str | None:
        """The id of an uploaded batch file with this name, if the service has one."""
        for item in self.sdk.files.list(purpose="batch"):
            if item.filename == filename:
                return item.id
        return None

    def create(
        self, file_id: str, completion_window: str, metadata: dict[str, str], endpoint: str
    ) -> Batch:
        return self.sdk.batches.create(
            input_file_id=file_id,
            endpoint=endpoint,  # type: ignore[arg-type]  # the SDK's literal lists OpenAI's
            completion_window=completion_window,  # type: ignore[arg-type]
            metadata=metadata,
        )

    def find_job(self, ds_name: str) -> Batch | None:
        """The job created with ``metadata.ds_name`` equal to ``ds_name``, if any."""
        for job in self.sdk.batches.list(limit=100):
            if (job.metadata or {}).get("ds_name") == ds_name:
                return job
        return None

    def retrieve(self, batch_id: str) -> Batch:
        return self.sdk.batches.retrieve(batch_id)

    def cancel(self, batch_id: str) -> Batch:
        return self.sdk.batches.cancel(batch_id)

    def lines(self, file_id: str) -> Iterator[bytes]:
        """A file's lines, streamed (an output file can be far larger than memory)."""
        with self.sdk.files.with_streaming_response.content(file_id) as response:
            pending = b""
            for chunk in response.iter_bytes(1 << 20):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                yield from (line for line in complete if line.strip())
            if pending.strip():
                yield pending
