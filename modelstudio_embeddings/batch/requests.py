"""Texts -> JSONL request files on disk, streamed: any iterable, never all of it in memory.

Rows are validated and grouped exactly as the real-time path does (``planning.validate_texts``,
``planning.check_lengths``, the model's rows per request); each request is a contiguous row
range whose ``custom_id`` names it (``r{start}-{stop}``), and a file is closed when the next
line would pass the file's line or byte limit. A file is recorded in the manifest with its
requests in one transaction once it is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import orjson

from ..core.errors import ConfigurationError, ModelStudioError
from ..core.planning import check_lengths, estimate_tokens, validate_texts
from ..embeddings.models import ModelSpec
from ..embeddings.wire import compatible_body
from .limits import BATCH_ENDPOINT, FileLimits
from .manifest import Manifest, RequestRecord, custom_id, parse_custom_id

__all__ = [
    "lines_for",
    "read_lines",
    "request_line",
    "texts_for",
    "write_followup_files",
    "write_request_files",
]


def request_line(start: int, texts: list[str], model: str, dimensions: int | None) -> bytes:
    """One request line, newline included."""
    line = {
        "custom_id": custom_id(start, start + len(texts)),
        "method": "POST",
        "url": BATCH_ENDPOINT,
        "body": compatible_body(model, texts, dimensions),
    }
    return orjson.dumps(line) + b"\n"


def _chunks(texts: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    chunk: list[str] = []
    start = 0
    for text in texts:
        chunk.append(text)
        if len(chunk) == size:
            yield start, chunk
            start += size
            chunk = []
    if chunk:
        yield start, chunk


def _checked(
    start: int, chunk: list[str], spec: ModelSpec, row_of: Callable[[int], int]
) -> list[str]:
    """The real-time path's checks on one request's rows, named by their input rows."""
    try:
        rows = validate_texts(chunk)
        check_lengths(rows, spec.tokens_per_row, spec.name)
    except ModelStudioError as exc:
        indices = [row_of(start + i) for i in exc.indices or ()]
        first, last = row_of(start), row_of(start + len(chunk) - 1)
        message = f"Rows {first}..{last} of the input: {exc.message}"
        raise type(exc)(message, indices=indices, model=spec.name) from None
    return rows


class _FileWriter:
    """Request lines into numbered files within the limits, recorded as each one closes."""

    def __init__(
        self, manifest: Manifest, limits: FileLimits, prefix: str, *, followup: bool = False
    ) -> None:
        self._manifest = manifest
        self._followup = followup
        self.names: list[str] = []
        self._limits = limits
        self._prefix = prefix
        self._number = sum(f"-{prefix}-" in f.name for f in manifest.files())
        self._handle: IO[bytes] | None = None
        self._path = Path()
        self._requests: list[tuple[int, int, int]] = []
        self._bytes = 0
        manifest.work_dir.mkdir(parents=True, exist_ok=True)

    def add(self, start: int, stop: int, line: bytes, tokens: int) -> None:
        if len(line) > self._limits.max_line_bytes:
            raise ConfigurationError(
                f"The request for rows {start}..{stop - 1} is {len(line)} bytes, over the "
                f"Batch API's {self._limits.max_line_bytes} bytes a line."
            )
        full = (
            len(self._requests) >= self._limits.max_requests
            or self._bytes + len(line) > self._limits.max_bytes
        )
        if self._handle is not None and full:
            self.close()
        if self._handle is None:
            self._number += 1
            name = f"{self._manifest.run_id}-{self._prefix}-{self._number:05d}.jsonl"
            self._path = self._manifest.work_dir / name
            self._handle = self._path.open("wb")
        self._handle.write(line)
        self._bytes += len(line)
        self._requests.append((start, stop, tokens))

    def close(self) -> None:
        if self._handle is None:
            return
        self._handle.flush()
        self._handle.close()
        self._handle = None
        self._manifest.add_file(
            self._path.name, self._path, self._requests, self._bytes, followup=self._followup
        )
        self.names.append(self._path.name)
        self._requests = []
        self._bytes = 0


def write_request_files(
    texts: Iterable[str],
    spec: ModelSpec,
    dimensions: int | None,
    manifest: Manifest,
    limits: FileLimits,
    row_of: Callable[[int], int] = lambda unit: unit,
) -> int:
    """Stream ``texts`` into request files, recorded in ``manifest``; the number of texts.
    ``row_of`` names a text's input row in messages (they differ when repeats are dropped)."""
    if isinstance(texts, str):
        validate_texts(texts)  # the real-time path's message for a lone str
    writer = _FileWriter(manifest, limits, "part")
    rows = 0
    for start, chunk in _chunks(texts, spec.rows_per_request):
        checked = _checked(start, chunk, spec, row_of)
        tokens = sum(estimate_tokens(t) for t in checked)
        line = request_line(start, checked, spec.name, dimensions)
        writer.add(start, start + len(checked), line, tokens)
        rows = start + len(checked)
    writer.close()
    return rows


def read_lines(path: str | Path, wanted: set[str] | None = None) -> Iterator[tuple[str, bytes]]:
    """``(custom_id, line)`` for the lines of a request file (those in ``wanted`` if given)."""
    with Path(path).open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            cid = line[len(b'{"custom_id":"') :].split(b'"', 1)[0].decode()
            if not line.startswith(b'{"custom_id":"'):
                cid = str(orjson.loads(line)["custom_id"])
            if wanted is None or cid in wanted:
                yield cid, line if line.endswith(b"\n") else line + b"\n"


def lines_for(manifest: Manifest, requests: list[RequestRecord]) -> Iterator[tuple[int, bytes]]:
    """``(start, line)`` for each request, read from its file: the line that names its rows,
    or, for a request split out of a longer one, that line's body cut to its rows."""
    by_file: dict[str, dict[int, RequestRecord]] = {}
    for request in requests:
        by_file.setdefault(request.file, {})[request.start] = request
    for name, wanted in by_file.items():
        for cid, line in read_lines(manifest.file(name).path):
            first, last = parse_custom_id(cid)
            covered = [wanted[i] for i in range(first, last) if i in wanted]
            if not covered:
                continue
            parsed = orjson.loads(line)
            for request in covered:
                if (request.start, request.stop) == (first, last):
                    yield request.start, line
                    continue
                body = dict(parsed["body"])
                body["input"] = list(body["input"])[request.start - first : request.stop - first]
                parsed_cut = {**parsed, "custom_id": request.custom_id, "body": body}
                yield request.start, orjson.dumps(parsed_cut) + b"\n"


def texts_for(manifest: Manifest, requests: list[RequestRecord]) -> dict[int, list[str]]:
    """Each request's texts by its first row (``lines_for``)."""
    return {
        start: list(orjson.loads(line)["body"]["input"])
        for start, line in lines_for(manifest, requests)
    }


def write_followup_files(
    manifest: Manifest, failed: list[RequestRecord], round_number: int, limits: FileLimits
) -> list[str]:
    """Copy the failed requests' lines into follow-up files and queue them there."""
    stops = {request.start: request.stop for request in failed}
    writer = _FileWriter(manifest, limits, f"retry{round_number}", followup=True)
    for start, line in lines_for(manifest, failed):
        writer.add(start, stops[start], line, 0)
    writer.close()
    return writer.names
