"""One timed pass of one image contender, in a process of its own (``benchmarks.images`` runs
it): ``python -m benchmarks.image_pass NAME FOLDER HOST [LIMIT]`` embeds every ``*.png`` of
FOLDER (the first LIMIT of them in name order, if given) through contender NAME against the
emulator at HOST, checks every row against FOLDER's ``reference.npy`` and prints one JSON line.

A process a pass keeps every figure the contender's own: its CPU is this process's CPU time
during the call (every thread of it, nothing of the emulator's or the parent's), its memory
the growth of this process's peak resident set during the call (Linux resets the peak before
the call through ``/proc/self/clear_refs``; elsewhere the growth of ``ru_maxrss``, which only
shows a peak above the one before the call), and no
client, connection or cache carries over from another contender.

Each contender starts from the paths of the files, as a user's ingestion would: ours take the
paths themselves; the peers read each file and send it as a base64 data URI, since the
``dashscope`` SDK would otherwise upload a local file to Alibaba Cloud's temporary storage
first (unreachable here, and a second round trip a file for a real user).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "qwen3-vl-embedding"
WIDTH = 2560
"""The model's default width: the LlamaIndex DashScope class cannot ask for another."""
KEY = "sk-bench"
ITEMS_PER_CALL = 20
"""qwen3-vl-embedding's items per request."""
REFERENCE = "reference.npy"
ALL_ROWS = "all rows"

Run = Callable[[list[Path]], Any]


def data_uri(path: Path) -> str:
    """A local PNG as the data URI the service takes in place of a URL."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# --- ours ----------------------------------------------------------------------------------


def _core(host: str) -> Any:
    from modelstudio_embeddings import MultimodalEmbeddingClient

    return MultimodalEmbeddingClient(MODEL, dimensions=WIDTH, api_key=KEY, base_url=host)


def core_sync(host: str) -> Run:
    """``MultimodalEmbeddingClient.embed`` of the paths."""
    client = _core(host)
    return lambda paths: client.embed(paths)


def core_async(host: str) -> Run:
    """``MultimodalEmbeddingClient.aembed`` of the paths, in a fresh event loop."""
    client = _core(host)
    return lambda paths: asyncio.run(client.aembed(paths))


def langchain_embed_image(host: str) -> Run:
    """LangChain's ``embed_image(uris)``: what ``Chroma.add_images`` calls."""
    from pydantic import SecretStr

    from langchain_modelstudio import ModelStudioMultimodalEmbeddings

    embeddings = ModelStudioMultimodalEmbeddings(
        model=MODEL, dimensions=WIDTH, api_key=SecretStr(KEY), base_url=host
    )
    return lambda paths: embeddings.embed_image([str(path) for path in paths])


def _llama(host: str) -> Any:
    from llama_index_modelstudio import ModelStudioMultiModalEmbedding

    return ModelStudioMultiModalEmbedding(
        model_name=MODEL, dimensions=WIDTH, api_key=KEY, base_url=host
    )


def llama_sync(host: str) -> Run:
    """LlamaIndex's ``get_image_embedding_batch`` (its default ``embed_batch_size``)."""
    embedding = _llama(host)
    return lambda paths: embedding.get_image_embedding_batch([str(path) for path in paths])


def llama_async(host: str) -> Run:
    """LlamaIndex's ``aget_image_embedding_batch``, in a fresh event loop."""
    embedding = _llama(host)
    return lambda paths: asyncio.run(
        embedding.aget_image_embedding_batch([str(path) for path in paths])
    )


# --- the peers -------------------------------------------------------------------------------


def _point_sdk(host: str) -> None:
    """The ``dashscope`` SDK at the emulator, as its documentation sets a region's host."""
    import dashscope

    dashscope.base_http_api_url = host + "/api/v1"
    dashscope.api_key = KEY


def _llama_dashscope(host: str) -> Any:
    _point_sdk(host)
    from llama_index.embeddings.dashscope.base import DashScopeEmbedding

    return DashScopeEmbedding(model_name=MODEL, api_key=KEY)


def dashscope_llama_sync(host: str) -> Run:
    """llama-index-embeddings-dashscope's ``DashScopeEmbedding.get_image_embedding_batch`` of
    data URIs (the class sends no ``dimension``: the model's default width)."""
    peer = _llama_dashscope(host)
    return lambda paths: peer.get_image_embedding_batch([data_uri(path) for path in paths])


def dashscope_llama_async(host: str) -> Run:
    """The same class's ``aget_image_embedding_batch``, in a fresh event loop."""
    peer = _llama_dashscope(host)
    return lambda paths: asyncio.run(
        peer.aget_image_embedding_batch([data_uri(path) for path in paths])
    )


def sdk_loop(host: str, per_call: int) -> Run:
    """The loop a user writes with the ``dashscope`` SDK: ``per_call`` images a
    ``MultiModalEmbedding.call``, one call after another, vectors placed by ``index``."""
    _point_sdk(host)
    import dashscope

    def run(paths: list[Path]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(paths), per_call):
            contents = [{"image": data_uri(path)} for path in paths[start : start + per_call]]
            response = dashscope.MultiModalEmbedding.call(
                model=MODEL, input=contents, api_key=KEY, dimension=WIDTH
            )
            if response.status_code != HTTPStatus.OK:
                raise RuntimeError(f"{response.status_code} {response.code}")
            answers = sorted(response.output["embeddings"], key=lambda item: item["index"])
            vectors.extend(item["embedding"] for item in answers)
        return vectors

    return run


def sdk_gather(host: str, per_call: int) -> Run:
    """The async loop a user writes with the SDK: every ``per_call``-image
    ``AioMultiModalEmbedding.call`` at once through ``asyncio.gather`` (no bound on requests in
    flight, no retry), in a fresh event loop."""
    _point_sdk(host)
    import dashscope

    async def one(paths: list[Path]) -> list[list[float]]:
        contents = [{"image": data_uri(path)} for path in paths]
        response = await dashscope.AioMultiModalEmbedding.call(
            model=MODEL, input=contents, api_key=KEY, dimension=WIDTH
        )
        if response.status_code != HTTPStatus.OK:
            raise RuntimeError(f"{response.status_code} {response.code}")
        answers = sorted(response.output["embeddings"], key=lambda item: item["index"])
        return [item["embedding"] for item in answers]

    async def every(paths: list[Path]) -> list[list[float]]:
        chunks = [paths[i : i + per_call] for i in range(0, len(paths), per_call)]
        answers = await asyncio.gather(*(one(chunk) for chunk in chunks))
        return [vector for answer in answers for vector in answer]

    return lambda paths: asyncio.run(every(paths))


OURS: dict[str, Callable[[str], Run]] = {
    "ours: core embed (sync)": core_sync,
    "ours: core aembed (async)": core_async,
    "ours: LangChain embed_image": langchain_embed_image,
    "ours: LlamaIndex get_image_embedding_batch": llama_sync,
    "ours: LlamaIndex aget_image_embedding_batch": llama_async,
}
LLAMA_DASHSCOPE = "LlamaIndex DashScopeEmbedding get_image_embedding_batch"
LLAMA_DASHSCOPE_ASYNC = "LlamaIndex DashScopeEmbedding aget_image_embedding_batch"
SDK_ONE = "dashscope SDK loop, 1 image a call"
SDK_BATCHED = f"dashscope SDK loop, {ITEMS_PER_CALL} images a call"
SDK_GATHER = f"dashscope SDK async, asyncio.gather of {ITEMS_PER_CALL}-image calls"
PEERS: dict[str, Callable[[str], Run]] = {
    LLAMA_DASHSCOPE: dashscope_llama_sync,
    LLAMA_DASHSCOPE_ASYNC: dashscope_llama_async,
    SDK_ONE: lambda host: sdk_loop(host, 1),
    SDK_BATCHED: lambda host: sdk_loop(host, ITEMS_PER_CALL),
    SDK_GATHER: lambda host: sdk_gather(host, ITEMS_PER_CALL),
}
CONTENDERS: dict[str, Callable[[str], Run]] = {**OURS, **PEERS}
OLDER_ANSWER = frozenset({LLAMA_DASHSCOPE, LLAMA_DASHSCOPE_ASYNC})
"""Peers that read the older answer, one ``output.embedding`` (the one-peace model's, which
llama-index-embeddings-dashscope was written for): the emulator answers them in that shape
(``multimodal_answer="embedding"``), so they are measured working, not failing on a shape."""
ONE_A_REQUEST = frozenset({LLAMA_DASHSCOPE, LLAMA_DASHSCOPE_ASYNC, SDK_ONE})
"""Contenders that send one image a request, one request after another: their throughput is
the latency's, whatever the number of images, so ``benchmarks.images`` gives them fewer."""


def peer_installed(name: str) -> bool:
    """Whether a peer's package imports here (``pip install -r benchmarks/requirements.txt``)."""
    import importlib.util

    module = "llama_index.embeddings.dashscope" if "LlamaIndex" in name else "dashscope"
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# --- memory ------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) if found else None


def _maxrss_kib() -> int:
    """``ru_maxrss`` in KiB (macOS counts bytes, Linux KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def reset_peak() -> int:
    """Reset the peak resident set to the current one where Linux allows; return the current
    (KiB), or the peak so far where it cannot be reset (``ru_maxrss``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        current = _status_kib("VmRSS")
        if current is not None and _status_kib("VmHWM") is not None:
            return current
    except OSError:
        pass
    return _maxrss_kib()


def peak_kib() -> int:
    """The peak resident set since ``reset_peak`` (KiB)."""
    peak = _status_kib("VmHWM")
    return peak if peak is not None else _maxrss_kib()


# --- one pass ----------------------------------------------------------------------------------


def check(vectors: Any, reference: np.ndarray[Any, Any]) -> str:
    """``all rows`` when row i is the reference vector of image i (allclose), else how many
    rows differ."""
    got = np.asarray(vectors, dtype=np.float32)
    if got.shape != reference.shape:
        return f"WRONG shape {got.shape}"
    rows = np.all(np.isclose(got, reference, atol=1e-6), axis=1)
    return ALL_ROWS if bool(rows.all()) else f"WRONG: {int((~rows).sum())} rows"


def one_pass(name: str, folder: Path, host: str, limit: int | None = None) -> dict[str, Any]:
    """Build contender ``name`` fresh, time its one call over every image of ``folder`` (the
    first ``limit``), check every row: wall seconds, CPU seconds, peak RSS growth (MiB),
    images and the verdict."""
    paths = sorted(folder.glob("*.png"))[:limit]
    run = CONTENDERS[name](host)
    before = reset_peak()
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        vectors, verdict = run(paths), ""
    except Exception as exc:  # a peer that fails is a result, not a crash
        vectors, verdict = None, f"failed: {type(exc).__name__}: {exc}"[:120]
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    peak = peak_kib()
    if not verdict:
        verdict = check(vectors, np.load(folder / REFERENCE)[: len(paths)])
    return {
        "client": name,
        "images": len(paths),
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_growth_mib": max(0, peak - before) / 1024,
        "correct": verdict,
    }


def main(argv: list[str] | None = None) -> int:
    """``NAME FOLDER HOST [LIMIT]``: one pass, one JSON line on stdout."""
    args = argv if argv is not None else sys.argv[1:]
    name, folder, host = args[:3]
    limit = int(args[3]) if len(args) > 3 else None
    print(json.dumps(one_pass(name, Path(folder), host, limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
