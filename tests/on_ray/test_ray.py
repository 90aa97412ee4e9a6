"""Embedding on a local Ray cluster (2 CPUs, started once for the module) against the emulator:
Ray Data with ``EmbedBatch`` in every batch format, the "null + reason" policy, one
``RayBudget`` shared by the actors, and ``ModelStudioEmbedding`` inside LlamaIndex's
``RayIngestionPipeline``. Every vector is compared with the emulator's own.

The 20,000-row run at 30 requests per second is marked ``ray_long`` (``make test-ray``; the
default ``pytest`` deselects it, CI runs both)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import ray
import ray.data
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.ingestion.ray import RayIngestionPipeline, RayTransformComponent

from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import EmbeddingClient, RateLimit
from modelstudio_embeddings.core.budget_state import (
    RAMP_SECONDS,
    RAMP_STEP,
    UTILIZATION,
    ramp_level,
)
from modelstudio_embeddings.core.budgets import DETACHED_NAMESPACE
from modelstudio_embeddings.ray import EmbedBatch, RayBudget
from modelstudio_emulator import Emulator, RateLimitSpec
from modelstudio_emulator.vectors import embed_texts

DIMENSIONS = 256
BLOCKED = "[[BLOCKED]]"
FIGURES = Path(__file__).resolve().parents[2] / ".pytest_cache" / "ray-figures.json"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """This module's own emulator (its rate limits change per test)."""
    with Emulator(moderation_marker=BLOCKED) as emu:
        yield emu


@pytest.fixture(scope="module", autouse=True)
def ray_session(emulator: Emulator) -> Iterator[None]:
    """One local Ray for the module. The key is in the environment the workers inherit, as it
    would be on a real cluster; it is never an argument of a task or actor."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DASHSCOPE_API_KEY", emulator.api_key)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _fresh(emulator: Emulator) -> None:
    emulator.reset()
    emulator.configure(rate_limits=None, moderation_marker=BLOCKED)


def texts_of(n: int, seed: int = 0) -> list[str]:
    return [f"passage {seed}-{i} on topic {i % 97} near {i % 13} and {i % 7}" for i in range(n)]


def dataset(texts: list[str], rows_per_block: int) -> ray.data.Dataset:
    """A dataset of ``id`` and ``text`` in blocks of ``rows_per_block`` (one block per task)."""
    tables = [
        pa.table({"id": list(range(k, min(k + rows_per_block, len(texts)))), "text": part})
        for k in range(0, len(texts), rows_per_block)
        for part in [texts[k : k + rows_per_block]]
    ]
    return ray.data.from_arrow(tables)


def embed_on_ray(ds: ray.data.Dataset, *, actors: int, batch_size: int, **kwargs: Any) -> pa.Table:
    out = ds.map_batches(
        EmbedBatch,
        fn_constructor_kwargs=kwargs,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=2 / actors,
        batch_size=batch_size,
        batch_format="pyarrow",
    )
    table: pa.Table = pa.concat_tables(ray.get(out.to_arrow_refs())).sort_by("id")
    return table


def vectors_of(table: pa.Table, column: str = "embedding") -> np.ndarray[Any, Any]:
    """The vector column as an (n, width) float32 array, NaN where null."""
    arr = table.column(column).combine_chunks()
    rows = [
        np.full(DIMENSIONS, np.nan, dtype=np.float32) if v is None else np.asarray(v, np.float32)
        for v in arr.to_pylist()
    ]
    return np.vstack(rows)


@dataclass
class Run:
    rows: int
    seconds: float
    rows_per_second: float
    """Over the embedding stage: the first request sent to the last answered."""
    after_ramp_rows_per_second: float
    """Over the same stage once slow start has reached the full level."""
    requests: int
    throttled: int
    throttled_share: float
    wall_seconds: float
    """The whole job: actors started, batches in and out."""


def measure(emulator: Emulator, wall: float) -> Run:
    log = emulator.log
    ok = [r for r in log if r.status == 200]
    first, last = min(r.started for r in log), max(r.finished for r in log)
    rows = sum(r.rows for r in ok)
    ramped = first + RAMP_SECONDS
    after = sum(r.rows for r in ok if r.started >= ramped) / (last - ramped)
    throttled = sum(1 for r in log if r.status == 429)
    span = last - first
    return Run(rows, span, rows / span, after, len(log), throttled, throttled / len(log), wall)


def ramp_bound(rows: int, rows_per_second: float) -> float:
    """The most rows a second a run of ``rows`` can reach from idle: the pacing level (97% of
    the limit) less what slow start holds back (its schedule's shortfall from the full level)."""
    steps = round(RAMP_SECONDS / RAMP_STEP)
    held = sum(1 - ramp_level(k * RAMP_STEP) for k in range(steps)) * RAMP_STEP
    paced = UTILIZATION * rows_per_second
    return rows / (rows / paced + held)


# --- Ray Data ---------------------------------------------------------------------------------


def test_actors_sharing_a_ray_budget_embed_every_row_without_429s(emulator: Emulator) -> None:
    emulator.configure(rate_limits=RateLimitSpec(requests_per_minute=6000))
    texts = texts_of(2000)
    table = embed_on_ray(
        dataset(texts, 250),
        actors=4,
        batch_size=250,
        base_url=emulator.base_url,
        dimensions=DIMENSIONS,
        rate_limit=RateLimit(requests_per_minute=6000),
        rate_budget=RayBudget(name=f"budget-{uuid.uuid4().hex}"),
    )
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), DIMENSIONS)
    assert table.column("id").to_pylist() == list(range(2000))
    np.testing.assert_array_equal(vectors_of(table), embed_texts(texts, DIMENSIONS))
    assert emulator.stats.responses_by_status.get(429, 0) == 0


def test_a_moderated_row_among_5000_gets_a_null_vector_and_its_reason(
    emulator: Emulator,
) -> None:
    texts = texts_of(5000, seed=1)
    texts[3210] = f"{BLOCKED} a chunk moderation refuses"
    table = embed_on_ray(
        dataset(texts, 500),
        actors=2,
        batch_size=500,
        base_url=emulator.base_url,
        dimensions=DIMENSIONS,
        on_error="null",
    )
    assert table.num_rows == 5000
    errors = table.column("embedding_error").to_pylist()
    assert [i for i, e in enumerate(errors) if e is not None] == [3210]
    assert errors[3210].startswith("ContentInspectionError (data_inspection_failed): ")
    assert table.column("embedding").null_count == 1
    got = vectors_of(table)
    assert np.isnan(got[3210]).all()
    keep = [i for i in range(5000) if i != 3210]
    np.testing.assert_array_equal(got[keep], embed_texts([texts[i] for i in keep], DIMENSIONS))


def test_raise_policy_fails_the_job_on_a_moderated_row(emulator: Emulator) -> None:
    texts = texts_of(40, seed=2)
    texts[7] = f"{BLOCKED} refused"
    with pytest.raises(Exception, match=r"ContentInspectionError|DataInspection"):
        embed_on_ray(
            dataset(texts, 20),
            actors=1,
            batch_size=20,
            base_url=emulator.base_url,
            dimensions=DIMENSIONS,
        )


@pytest.mark.parametrize("batch_format", ["numpy", "pandas"])
def test_numpy_and_pandas_batches(emulator: Emulator, batch_format: str) -> None:
    texts = texts_of(300, seed=3)
    texts[5] = f"{BLOCKED} refused"
    out = (
        dataset(texts, 100)
        .map_batches(
            EmbedBatch,
            fn_constructor_kwargs={
                "base_url": emulator.base_url,
                "dimensions": DIMENSIONS,
                "on_error": "null",
            },
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=0.5,
            batch_size=100,
            batch_format=batch_format,
        )
        .to_pandas()
        .sort_values("id")
    )
    assert out["embedding_error"].notna().tolist() == [i == 5 for i in range(300)]
    keep = [i for i in range(300) if i != 5]
    got = np.vstack([np.asarray(out["embedding"].iloc[i], np.float32) for i in keep])
    np.testing.assert_array_equal(got, embed_texts([texts[i] for i in keep], DIMENSIONS))
    assert np.isnan(np.asarray(out["embedding"].iloc[5], np.float32)).all()


# --- one budget for the cluster -----------------------------------------------------------------


def test_clients_naming_one_ray_budget_share_its_state() -> None:
    name = f"budget-{uuid.uuid4().hex}"
    limit = RateLimit(requests_per_minute=900)  # slow start: 2.3 requests a second
    first, second = RayBudget(name=name).open(), RayBudget(name=name).open()
    assert first.take("group", limit, 1, 0) == 0.0  # the one request a new budget holds
    assert first.take("group", limit, 1, 0) > 0
    assert second.take("group", limit, 1, 0) > 0  # the same bucket, still empty
    assert RayBudget(name=f"{name}-other").open().take("group", limit, 1, 0) == 0.0


@ray.remote(num_cpus=0)
class _Creator:
    """A worker that uses a budget first (so creates its actor) and is then ended, as Ray Data
    ends its actors one by one when the inputs run out."""

    def take(self, name: str, limit: RateLimit, tokens: float) -> float:
        return float(RayBudget(name=name).open().take("group", limit, 1, tokens))


def test_a_budget_outlives_the_worker_that_created_it() -> None:
    name = f"budget-{uuid.uuid4().hex}"
    limit = RateLimit(tokens_per_minute=60_000)  # 1,000 tokens a second
    creator = _Creator.remote()  # type: ignore[attr-defined]
    # A request of 100,000 tokens takes the full bucket and runs it 100 seconds into debt.
    assert ray.get(creator.take.remote(name, limit, 100_000)) == 0.0
    ray.kill(creator)
    time.sleep(1.0)
    # The same budget, still in debt: not a fresh one (which would grant at once).
    assert RayBudget(name=name).open().take("group", limit, 1, 1) > 50
    ray.kill(ray.get_actor(name, namespace=DETACHED_NAMESPACE))


def test_a_detached_budget_lives_in_the_librarys_namespace_not_an_anonymous_one() -> None:
    name = f"budget-{uuid.uuid4().hex}"
    limit = RateLimit(requests_per_minute=900)
    RayBudget(name=name).open().take("group", limit, 1, 0)
    ray.get_actor(name, namespace=DETACHED_NAMESPACE)  # later jobs find it there
    RayBudget(name=f"{name}-own", detached=False).open().take("group", limit, 1, 0)
    with pytest.raises(ValueError):
        ray.get_actor(f"{name}-own", namespace=DETACHED_NAMESPACE)
    ray.kill(ray.get_actor(name, namespace=DETACHED_NAMESPACE))


# --- LlamaIndex --------------------------------------------------------------------------------


def test_ray_ingestion_pipeline_with_model_studio_embedding(emulator: Emulator) -> None:
    documents = [
        Document(text=" ".join(f"Sentence {d}.{s} about subject {s % 17}." for s in range(40)))
        for d in range(500)
    ]
    settings = {"model_name": "text-embedding-v4", "dimensions": DIMENSIONS}
    pipeline = RayIngestionPipeline(
        transformations=[
            RayTransformComponent(
                transform_class=SentenceSplitter,
                transform_kwargs={"chunk_size": 128, "chunk_overlap": 16},
                map_batches_kwargs={"batch_size": 50, "concurrency": 1, "num_cpus": 0.5},
            ),
            RayTransformComponent(
                transform_class=ModelStudioEmbedding,
                # Settings only: each actor reads DASHSCOPE_API_KEY from its environment.
                transform_kwargs={**settings, "base_url": emulator.base_url},
                map_batches_kwargs={"batch_size": 100, "concurrency": 2, "num_cpus": 0.5},
            ),
        ]
    )
    nodes = pipeline.run(documents=documents)
    assert len(nodes) > len(documents)
    assert {n.ref_doc_id for n in nodes} == {d.doc_id for d in documents}
    texts = [n.get_content(metadata_mode="embed") for n in nodes]  # what the embedder sent
    got = np.asarray([n.embedding for n in nodes], dtype=np.float32)
    np.testing.assert_array_equal(got, embed_texts(texts, DIMENSIONS))
    with EmbeddingClient(
        dimensions=DIMENSIONS, api_key=emulator.api_key, base_url=emulator.base_url
    ) as driver:  # the same vectors as the core client in the driver
        np.testing.assert_array_equal(got, driver.embed(texts))


# --- the 20,000-row run (make test-ray) ---------------------------------------------------------

ROWS = 20_000
RPM = 1800  # Beijing's 30 requests per second


def run_20k(emulator: Emulator, budget: RayBudget | None) -> tuple[Run, pa.Table, list[str]]:
    emulator.reset()
    emulator.configure(rate_limits=RateLimitSpec(requests_per_minute=RPM))
    texts = texts_of(ROWS, seed=4 if budget else 5)
    started = time.monotonic()
    table = embed_on_ray(
        dataset(texts, 500),
        actors=4,
        batch_size=500,
        base_url=emulator.base_url,
        dimensions=DIMENSIONS,
        on_error="null",
        rate_limit=RateLimit(requests_per_minute=RPM),
        **({"rate_budget": budget} if budget else {}),
    )
    return measure(emulator, time.monotonic() - started), table, texts


@pytest.mark.ray_long
def test_20000_rows_with_4_actors_at_30_requests_per_second(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shared, table, texts = run_20k(emulator, RayBudget(name=f"budget-{uuid.uuid4().hex}"))
    alone, table_alone, texts_alone = run_20k(emulator, None)
    limit = RPM / 60 * 10  # 300 rows a second
    figures: dict[str, Any] = {
        "limit rows per second": limit,
        "slow start's bound on rows per second": ramp_bound(ROWS, limit),
        "shared RayBudget": shared.__dict__,
        "a LocalBudget per actor": alone.__dict__,
    }
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print(f"\n{os.linesep.join(f'{k}: {v}' for k, v in figures.items())}")

    assert table.column("embedding_error").null_count == ROWS  # no failed row
    np.testing.assert_array_equal(vectors_of(table), embed_texts(texts, DIMENSIONS))
    assert shared.rows == ROWS
    # 85% of the limit over the stage, as the issue asks (slow start and the 97% pacing level
    # bound a 20,000-row run from idle at 87.6%), and 90% once slow start is over.
    assert shared.rows_per_second >= 0.85 * limit
    assert shared.after_ramp_rows_per_second >= 0.90 * limit
    assert shared.throttled_share < 0.01
    # Without the shared budget every row is still right (429s are retried), only slower.
    assert table_alone.column("embedding_error").null_count == ROWS
    np.testing.assert_array_equal(vectors_of(table_alone), embed_texts(texts_alone, DIMENSIONS))
