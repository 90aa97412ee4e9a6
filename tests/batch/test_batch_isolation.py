"""A refused row costs only itself (issue "The Batch path keeps every clean row"): a line one
row's content or length refused is split row by row in a follow-up job at the batch price;
the real-time fallback keeps what it embedded; outputs show failures the same way in every
sink; output line variants give exact vectors; reasons stay short."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from modelstudio_embeddings.batch import BatchJob, NpySink, ParquetSink
from modelstudio_embeddings.batch.results import read_failures
from modelstudio_embeddings.batch.sinks import ArraySink
from modelstudio_embeddings.core.errors import ConfigurationError
from modelstudio_emulator import Emulator
from modelstudio_emulator.tokens import usage_tokens
from modelstudio_emulator.vectors import embed_texts

from .test_batch_job import corpus

MakeJob = Callable[..., BatchJob]
BLOCKED = "[[BLOCKED]]"
TOO_LONG = "[[TOO_LONG]]"
MODERATED_ROW, LONG_ROW = 417, 842


@pytest.fixture
def refusing(batch_emu: Emulator) -> tuple[Emulator, list[str]]:
    """1,000 rows, one the service moderates and one it finds too long (its tokenizer counts
    more than the client's estimate: the client cannot refuse it first)."""
    batch_emu.configure(too_long_marker=TOO_LONG)
    texts = corpus(1000)
    texts[MODERATED_ROW] = f"{texts[MODERATED_ROW]} {BLOCKED}"
    texts[LONG_ROW] = f"{texts[LONG_ROW]} {TOO_LONG}"
    return batch_emu, texts


def clean(texts: list[str]) -> list[int]:
    return [i for i in range(len(texts)) if i not in (MODERATED_ROW, LONG_ROW)]


def assert_only_the_refused_rows_failed(result: object, sink: ArraySink, texts: list[str]) -> None:
    from modelstudio_embeddings.batch import BatchResult

    assert isinstance(result, BatchResult)
    assert [f.row for f in result.failures] == [MODERATED_ROW, LONG_ROW]
    moderated, long = (f.reason for f in result.failures)
    assert "inappropriate" in moderated.lower() or "inspection" in moderated.lower()
    assert "Range of input length" in long
    assert all(len(f.reason) <= 300 for f in result.failures)
    rows = clean(texts)
    np.testing.assert_array_equal(sink.array[rows], embed_texts([texts[i] for i in rows], 64))
    assert np.isnan(sink.array[[MODERATED_ROW, LONG_ROW]]).all()
    assert result.stored_rows == 998 and not result.complete


def test_only_the_refused_rows_are_left_at_the_batch_price(
    make_job: MakeJob, refusing: tuple[Emulator, list[str]]
) -> None:
    emulator, texts = refusing
    sink = ArraySink()
    result = make_job(sink=sink).run(texts)
    assert_only_the_refused_rows_failed(result, sink, texts)
    stats = emulator.batch.stats
    # 98 clean lines, then the two refused lines split: 18 clean single rows; each row once.
    assert stats.lines_billed == 98 + 18
    assert stats.tokens_billed == usage_tokens([texts[i] for i in clean(texts)])
    assert result.usage.prompt_tokens == stats.tokens_billed
    assert stats.jobs_created == 2
    assert not [r for r in emulator.log if r.protocol != "batch" and r.texts]  # no real time


def test_the_realtime_fallback_keeps_every_clean_row(
    make_job: MakeJob, refusing: tuple[Emulator, list[str]]
) -> None:
    emulator, texts = refusing
    sink = ArraySink()
    result = make_job(sink=sink, max_rounds=0, realtime_fallback=True).run(texts)
    assert_only_the_refused_rows_failed(result, sink, texts)
    assert emulator.batch.stats.jobs_created == 1
    embedded = [
        t for r in emulator.log if r.protocol != "batch" and r.status == 200 for t in r.texts or ()
    ]
    neighbours = [texts[i] for i in range(410, 420) if i != MODERATED_ROW]
    neighbours += [texts[i] for i in range(840, 850) if i != LONG_ROW]
    assert sorted(embedded) == sorted(neighbours)  # each clean neighbour once in real time


def test_a_resumed_run_neither_resends_nor_forgets_the_refused_rows(
    make_job: MakeJob, refusing: tuple[Emulator, list[str]]
) -> None:
    emulator, texts = refusing
    make_job(sink=ArraySink()).run(texts)
    before = emulator.batch.stats.lines_billed
    again = ArraySink()
    result = make_job(sink=again).run(texts)
    assert_only_the_refused_rows_failed(result, again, texts)
    assert emulator.batch.stats.lines_billed == before


def test_every_sink_shows_a_row_without_a_vector_and_parquet_is_written(
    make_job: MakeJob, refusing: tuple[Emulator, list[str]], tmp_path: Path
) -> None:
    _, texts = refusing
    npy = NpySink(tmp_path / "v.npy")
    make_job(sink=npy).run(texts)
    vectors = np.load(tmp_path / "v.npy")
    assert np.isnan(vectors[MODERATED_ROW]).all() and np.isfinite(vectors[0]).all()

    parquet = ParquetSink(tmp_path / "v.parquet")
    result = make_job("p.sqlite", sink=parquet).run(texts)
    table = pq.read_table(tmp_path / "v.parquet")
    vectors_column = table.column("vector").to_pylist()
    assert [i for i, v in enumerate(vectors_column) if v is None] == [MODERATED_ROW, LONG_ROW]
    assert table.column("text").to_pylist() == texts
    assert parquet._staging.path.exists()  # kept: a later run can still fill the gaps
    path = result.write_failures(tmp_path / "failures.jsonl")
    assert read_failures(path) == result.failures


@pytest.mark.parametrize("output_format", ["string_body", "flat", "error_object"])
def test_output_variants_give_exact_vectors_and_short_reasons(
    make_job: MakeJob, refusing: tuple[Emulator, list[str]], output_format: str
) -> None:
    emulator, texts = refusing
    emulator.configure(batch_output_format=output_format)
    sink = ArraySink()
    assert_only_the_refused_rows_failed(make_job(sink=sink).run(texts), sink, texts)


@pytest.mark.parametrize("window", ["12h", "400h", "tomorrow"])
def test_a_refused_completion_window_is_refused_before_anything(
    make_job: MakeJob, batch_emu: Emulator, tmp_path: Path, window: str
) -> None:
    with pytest.raises(ConfigurationError, match="24h to 336h"):
        make_job("w.sqlite", completion_window=window)
    assert not (tmp_path / "w.sqlite").exists()
    assert batch_emu.batch.stats.uploads == 0
