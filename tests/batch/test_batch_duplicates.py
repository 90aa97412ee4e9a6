"""Duplicate texts once (issue "The Batch path keeps every clean row"): a repeated text is
planned, sent and billed once and its vector stored at every row that holds it; the estimate
counts it once; a refused text fails at each of its rows; texts come back in row order."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from modelstudio_embeddings.batch import BatchJob, NpySink, ParquetSink
from modelstudio_embeddings.batch.sinks import ArraySink
from modelstudio_emulator import Emulator
from modelstudio_emulator.tokens import usage_tokens
from modelstudio_emulator.vectors import embed_texts

from .test_batch_job import corpus

MakeJob = Callable[..., BatchJob]


def with_repeats(n: int, share: float, seed: int = 7) -> list[str]:
    """``n`` rows of which ``share`` repeat an earlier row (boilerplate, headers)."""
    rng = random.Random(seed)
    distinct = corpus(n, tag="chunk")
    texts: list[str] = []
    for text in distinct:
        if texts and rng.random() < share:
            texts.append(rng.choice(texts))
        else:
            texts.append(text)
    return texts


def test_a_corpus_with_30_percent_repeats_is_billed_for_its_distinct_texts(
    make_job: MakeJob, batch_emu: Emulator, tmp_path: Path
) -> None:
    texts = with_repeats(20_000, 0.3)
    distinct = list(dict.fromkeys(texts))
    assert 0.25 < 1 - len(distinct) / len(texts) < 0.35
    sink = NpySink(tmp_path / "v.npy")
    job = make_job(sink=sink)
    job.prepare(iter(texts))
    estimate = job.estimate()
    assert estimate.rows == 20_000 and estimate.distinct_rows == len(distinct)
    assert estimate.requests == -(-len(distinct) // 10)
    result = job.run(texts)
    assert result.complete and result.stored_rows == 20_000
    stats = batch_emu.batch.stats
    assert stats.tokens_billed == usage_tokens(distinct)  # each distinct text billed once
    assert stats.lines_billed == -(-len(distinct) // 10)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), embed_texts(texts, 64))
    assert list(job.texts()) == texts
    assert result.usage.rows == 20_000


def test_a_refused_repeated_text_fails_at_each_of_its_rows(
    make_job: MakeJob, batch_emu: Emulator, tmp_path: Path
) -> None:
    texts = corpus(300)
    blocked = "a footer [[BLOCKED]]"
    rows = [3, 150, 299]
    for row in rows:
        texts[row] = blocked
    texts[200] = texts[10]
    sink = ArraySink()
    result = make_job(sink=sink).run(texts)
    assert [f.row for f in result.failures] == rows
    good = [i for i in range(300) if i not in rows]
    np.testing.assert_array_equal(sink.array[good], embed_texts([texts[i] for i in good], 64))
    assert np.isnan(sink.array[rows]).all()

    parquet = ParquetSink(tmp_path / "v.parquet")
    make_job("p.sqlite", sink=parquet).run(texts)
    table = pq.read_table(tmp_path / "v.parquet")
    assert table.column("text").to_pylist() == texts
    vectors = table.column("vector").to_pylist()
    assert [i for i, v in enumerate(vectors) if v is None] == rows


def test_a_bad_row_after_repeats_is_named_by_its_input_row(
    make_job: MakeJob, batch_emu: Emulator
) -> None:
    from modelstudio_embeddings.core.errors import InputTooLongError

    texts = ["same"] * 25 + corpus(10)
    texts[31] = " "
    try:
        make_job().run(texts)
    except InputTooLongError as exc:
        assert exc.indices == (31,)
    else:
        raise AssertionError("the blank row was not refused")
    assert batch_emu.batch.stats.uploads == 0
