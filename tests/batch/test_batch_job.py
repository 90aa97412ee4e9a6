"""BatchJob against the emulator's Batch API: right rows, fewest uploads and jobs, follow-ups
for expired and failed lines (each paid once), every output format, the manifest's resume
after a crash between a call and its record, sinks, dry run and cancel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from modelstudio_embeddings.batch import BatchJob, FileLimits, NpySink, ParquetSink
from modelstudio_embeddings.batch.sinks import ArraySink
from modelstudio_embeddings.core.errors import ConfigurationError, InputTooLongError
from modelstudio_emulator import Emulator
from modelstudio_emulator.faults import BatchFault
from modelstudio_emulator.vectors import embed_texts

MakeJob = Callable[..., BatchJob]


def corpus(n: int, tag: str = "doc") -> list[str]:
    return [f"{tag} {i} about topic {i % 13} and word{i % 97}" for i in range(n)]


def expected(texts: list[str]) -> np.ndarray:
    return embed_texts(texts, 64)


def test_rows_land_at_their_positions_with_fewest_files_and_jobs(
    make_job: MakeJob, batch_emu: Emulator
) -> None:
    texts = corpus(1234)
    sink = ArraySink()
    job = make_job(sink=sink, file_limits=FileLimits(max_requests=50))
    result = job.run(iter(texts))  # a generator: streamed, never listed whole
    assert result.complete and result.rows == 1234
    np.testing.assert_array_equal(sink.array, expected(texts))
    requests = -(-1234 // 10)
    files = -(-requests // 50)
    stats = batch_emu.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == (files, files, requests)
    assert (result.uploads, result.jobs) == (files, files)
    assert result.usage.prompt_tokens == stats.tokens_billed
    assert result.usage.cost_cny == pytest.approx(stats.tokens_billed / 1000 * 0.00025)


def test_file_byte_limit_splits_files(make_job: MakeJob, batch_emu: Emulator) -> None:
    texts = corpus(200)
    job = make_job(file_limits=FileLimits(max_bytes=4000))
    job.prepare(texts)
    files = job.manifest.files()
    assert len(files) > 1 and all(f.bytes <= 4000 for f in files)
    assert job.run().complete


def test_invalid_rows_are_refused_before_anything_is_sent(
    make_job: MakeJob, batch_emu: Emulator
) -> None:
    texts = corpus(30)
    texts[17] = "   "
    with pytest.raises(InputTooLongError) as info:
        make_job().run(texts)
    assert info.value.indices == (17,)
    assert batch_emu.batch.stats.uploads == 0


@pytest.mark.parametrize("output_format", ["openai", "error_object", "flat"])
def test_expired_half_is_resubmitted_once(
    make_job: MakeJob, batch_emu: Emulator, output_format: str
) -> None:
    batch_emu.configure(batch_output_format=output_format)
    batch_emu.batch.script(BatchFault.expire(0.5))
    texts = corpus(400)
    sink = ArraySink()
    result = make_job(sink=sink).run(texts)
    assert result.complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    stats = batch_emu.batch.stats
    assert stats.jobs_created == 2 and stats.uploads == 2
    assert stats.lines_billed == 40  # every request paid once
    creates = [r for r in batch_emu.log if r.protocol == "batch" and r.path.endswith("batches")]
    assert len([r for r in creates if r.status == 200]) == 2


def test_dropped_lines_of_an_expired_job_are_resubmitted(
    make_job: MakeJob, batch_emu: Emulator
) -> None:
    batch_emu.batch.script(BatchFault.expire(0.3, rest="dropped"))
    texts = corpus(100)
    sink = ArraySink()
    assert make_job(sink=sink).run(texts).complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    assert batch_emu.batch.stats.lines_billed == 10


def test_failed_lines_retry_or_are_reported_row_by_row(
    make_job: MakeJob, batch_emu: Emulator
) -> None:
    texts = corpus(50)
    texts[23] = "a poison row"
    batch_emu.batch.script(
        BatchFault.line_error("poison", 400, "InvalidParameter", "bad row"),
        BatchFault.line_error("poison", 400, "InvalidParameter", "bad row"),
    )
    result = make_job().run(texts)
    assert not result.complete
    assert [f.row for f in result.failures] == list(range(20, 30))
    assert (
        "InvalidParameter" in result.failures[0].reason and "bad row" in result.failures[0].reason
    )
    assert batch_emu.batch.stats.jobs_created == 1  # a 400 is not retried


def test_server_errors_go_to_a_follow_up_job(make_job: MakeJob, batch_emu: Emulator) -> None:
    texts = corpus(50)
    texts[23] = "a flaky row"
    batch_emu.batch.script(BatchFault.line_error("flaky", 500, "InternalError", "oops"))
    sink = ArraySink()
    assert make_job(sink=sink).run(texts).complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    assert batch_emu.batch.stats.jobs_created == 2
    assert batch_emu.batch.stats.lines_billed == 5


def test_realtime_fallback_embeds_what_the_batch_left(
    make_job: MakeJob, batch_emu: Emulator
) -> None:
    texts = corpus(50)
    texts[23] = "a flaky row"
    batch_emu.batch.script(BatchFault.line_error("flaky", 500, "InternalError", "oops"))
    sink = ArraySink()
    result = make_job(sink=sink, max_rounds=0, realtime_fallback=True).run(texts)
    assert result.complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    realtime = [r for r in batch_emu.log if r.protocol != "batch" and r.texts]
    assert [t for r in realtime for t in (r.texts or [])] == texts[20:30]


def test_malformed_output_line_is_sent_again(make_job: MakeJob, batch_emu: Emulator) -> None:
    batch_emu.batch.script(BatchFault.malformed_output())
    texts = corpus(80)
    sink = ArraySink()
    assert make_job(sink=sink).run(texts).complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    assert batch_emu.batch.stats.jobs_created == 2


def test_failed_validation_is_reported(make_job: MakeJob, batch_emu: Emulator) -> None:
    batch_emu.batch.script(BatchFault.fail_validation())
    result = make_job().run(corpus(20))
    assert len(result.failures) == 20
    assert result.failures[0].reason.startswith("validation:")


class Crash(Exception):
    pass


@pytest.mark.parametrize("point", ["upload_sent", "uploaded", "create_sent", "created", "stored"])
def test_a_crash_at_any_point_resumes_without_paying_twice(
    make_job: MakeJob, batch_emu: Emulator, tmp_path: Path, point: str
) -> None:
    texts = corpus(300)

    def crash(name: str, detail: str) -> None:
        if name == point:
            raise Crash(detail)

    first = make_job(sink=NpySink(tmp_path / "out.npy"), on_event=crash)
    with pytest.raises(Crash):
        first.run(texts)
    first.close()
    result = make_job(sink=NpySink(tmp_path / "out.npy")).run(texts)
    assert result.complete
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected(texts))
    stats = batch_emu.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == (1, 1, 30)


def test_a_manifest_refuses_other_texts(make_job: MakeJob, batch_emu: Emulator) -> None:
    assert make_job().run(corpus(20)).complete
    with pytest.raises(ConfigurationError, match="other texts"):
        make_job().run(corpus(20, tag="other"))


def test_parquet_sink_keeps_ids_texts_and_vectors(
    make_job: MakeJob, batch_emu: Emulator, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    texts = corpus(120)
    assert make_job(sink=ParquetSink(tmp_path / "out.parquet")).run(texts).complete
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("id").to_pylist() == list(range(120))
    assert table.column("text").to_pylist() == texts
    np.testing.assert_array_equal(
        np.array(table.column("vector").to_pylist(), dtype=np.float32), expected(texts)
    )


def test_dry_run_validates_without_billing(make_job: MakeJob, batch_emu: Emulator) -> None:
    job = make_job()
    job.prepare(corpus(2000))
    assert job.dry_run() == []
    assert batch_emu.batch.stats.lines_billed == 0


def test_cancel_then_resume_resubmits_the_rest(make_job: MakeJob, batch_emu: Emulator) -> None:
    batch_emu.batch.script(BatchFault.hold(0.5))
    texts = corpus(200)
    job = make_job()
    job.prepare(texts)
    job.submit()
    assert job.cancel()
    job.close()
    sink = ArraySink()
    assert make_job(sink=sink).run(texts).complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    assert batch_emu.batch.stats.lines_billed == 20


def test_a_new_output_file_gets_every_row_again_without_new_jobs(
    make_job: MakeJob, batch_emu: Emulator, tmp_path: Path
) -> None:
    texts = corpus(150)
    assert make_job(sink=NpySink(tmp_path / "a.npy")).run(texts).complete
    (tmp_path / "a.npy").unlink()
    assert make_job(sink=NpySink(tmp_path / "a.npy")).run(texts).complete
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), expected(texts))
    sink = ArraySink()  # a fresh process's array: downloaded again, free
    assert make_job(sink=sink).run(texts).complete
    np.testing.assert_array_equal(sink.array, expected(texts))
    stats = batch_emu.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == (1, 1, 15)
