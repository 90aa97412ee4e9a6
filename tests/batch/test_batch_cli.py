"""``modelstudio-embeddings batch``: dry run, estimate at the batch price, run, a second run
that finds everything done, status and cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelstudio_embeddings.__main__ import main
from modelstudio_emulator import Emulator
from modelstudio_emulator.faults import BatchFault
from modelstudio_emulator.vectors import embed_texts

from .test_batch_job import corpus


def cli(emu: Emulator, *args: str) -> int:
    common = ["--base-url", emu.base_url, "--allow-insecure-http", "--poll", "0.005", "0.05"]
    return main(["batch", *args, *common])


def test_cli_run_status_and_resume(
    batch_emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", batch_emu.api_key)
    texts = corpus(500)
    source = tmp_path / "corpus.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    manifest, output = str(tmp_path / "run.sqlite"), str(tmp_path / "out.npy")
    run = ["run", str(source), "--manifest", manifest, "--output", output, "--dimensions", "64"]
    assert cli(batch_emu, *run, "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "CNY at the batch price" in printed
    assert "accepted all 50 requests" in printed
    assert batch_emu.batch.stats.lines_billed == 0
    assert cli(batch_emu, *run, "--no-progress") == 0
    printed = capsys.readouterr().out
    assert "500/500 rows stored; 1 upload, 1 job" in printed
    np.testing.assert_array_equal(np.load(output), embed_texts(texts, 64))
    assert cli(batch_emu, *run, "--no-progress") == 0  # again: nothing new is sent
    stats = batch_emu.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == (2, 2, 50)  # 1 dry run
    assert cli(batch_emu, "status", "--manifest", manifest) == 0
    assert "500 stored" in capsys.readouterr().out


def test_cli_submit_then_cancel(
    batch_emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", batch_emu.api_key)
    batch_emu.batch.script(BatchFault.hold(0.5))
    source = tmp_path / "corpus.txt"
    source.write_text("\n".join(corpus(100)) + "\n", encoding="utf-8")
    manifest = str(tmp_path / "run.sqlite")
    assert cli(batch_emu, "submit", str(source), "--manifest", manifest) == 0
    assert cli(batch_emu, "cancel", "--manifest", manifest) == 0
    assert "cancelling batch_" in capsys.readouterr().out
    assert batch_emu.batch.stats.cancels == 1
