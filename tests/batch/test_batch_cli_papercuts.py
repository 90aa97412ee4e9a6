"""``modelstudio-embeddings batch`` papercuts: the manifest keeps the host, a finished run says
so instead of estimating again, a dry run says what it checked, failed rows are counted (not
listed), counts are in words (``1 request``), and every option has help and its default."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelstudio_embeddings.__main__ import main
from modelstudio_embeddings.batch.cli import EXIT_INCOMPLETE, _parser
from modelstudio_emulator import Emulator
from modelstudio_emulator.vectors import embed_texts

from .conftest import BATCH_DEFAULTS
from .test_batch_job import corpus

FAST = ["--poll", "0.005", "0.05", "--no-progress"]


def write(path: Path, texts: list[str]) -> str:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def own_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator of its own on a port of its own (not the session's, not a default), with
    the key in the environment and no host there: only the flag or the manifest name it."""
    with Emulator() as emu:
        emu.configure(**BATCH_DEFAULTS)
        monkeypatch.setenv("DASHSCOPE_API_KEY", emu.api_key)
        yield emu


def batch_calls(emu: Emulator) -> int:
    return sum(1 for record in emu.log if record.protocol == "batch")


def test_later_commands_go_to_the_host_the_manifest_records(
    own_host: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = corpus(60)
    source = write(tmp_path / "c.txt", texts)
    manifest, output = str(tmp_path / "m.sqlite"), str(tmp_path / "v.npy")
    flags = ["--manifest", manifest, "--max-retries", "0", *FAST]
    assert main(["batch", "submit", source, "--base-url", own_host.base_url, *flags]) == 0
    submitted = batch_calls(own_host)
    for action in (["status"], ["wait"], ["fetch", "--output", output]):
        assert main(["batch", *action, *flags]) == 0, capsys.readouterr().err
    assert batch_calls(own_host) > submitted  # every later call reached the recorded host
    np.testing.assert_array_equal(np.load(output), embed_texts(texts, 1024))
    assert main(["batch", "cancel", *flags]) == 0  # nothing left to cancel, same host
    assert "error" not in capsys.readouterr().err


def test_a_finished_run_says_already_complete_and_pays_nothing(
    own_host: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "c.txt", corpus(30))
    run = ["batch", "run", source, "--manifest", str(tmp_path / "m.sqlite")]
    run += ["--output", str(tmp_path / "v.npy"), "--base-url", own_host.base_url, *FAST]
    assert main(run) == 0
    assert "Estimate:" in capsys.readouterr().out
    stats = own_host.batch.stats
    before = (stats.uploads, stats.jobs_created, stats.lines_billed)
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "Already complete" in out and "30 rows" in out
    assert "Estimate:" not in out and "CNY at the batch price" not in out
    stats = own_host.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == before
    assert main([*run, "--dry-run"]) == 0
    assert "Already complete" in capsys.readouterr().out


def test_a_dry_run_says_what_it_checked(
    own_host: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "c.txt", corpus(1_500))  # 150 requests: the test model takes 100
    run = ["batch", "run", source, "--manifest", str(tmp_path / "m.sqlite"), "--dry-run"]
    assert main([*run, "--base-url", own_host.base_url, *FAST]) == 0
    out = capsys.readouterr().out
    assert "valid" not in out
    assert "accepted the first 100 of the 150 requests in file 1 of 1" in out
    assert "not checked: the other 50 requests" in out
    assert own_host.batch.stats.lines_billed == 0


def test_failed_rows_are_counted_on_stdout_and_listed_only_in_the_report(
    own_host: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = corpus(40)
    for row in (3, 17):
        texts[row] = f"{texts[row]} [[BLOCKED]]"
    report = tmp_path / "failed.jsonl"
    run = ["batch", "run", write(tmp_path / "c.txt", texts), "--manifest", str(tmp_path / "m")]
    run += ["--output", str(tmp_path / "v.npy"), "--failures", str(report)]
    assert main([*run, "--base-url", own_host.base_url, *FAST]) == EXIT_INCOMPLETE
    printed = capsys.readouterr()
    assert "2 rows left without vectors" in printed.out and str(report) in printed.out
    assert "row 3" not in printed.out + printed.err and "row 17" not in printed.out
    assert len(report.read_text(encoding="utf-8").splitlines()) == 2


def test_one_of_each_is_counted_in_the_singular(
    own_host: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["batch", "run", write(tmp_path / "c.txt", ["one lonely text"])]
    run += ["--manifest", str(tmp_path / "m.sqlite"), "--output", str(tmp_path / "v.npy")]
    assert main([*run, "--base-url", own_host.base_url, *FAST]) == 0
    out = capsys.readouterr().out
    assert "1 row in 1 request, 1 file;" in out
    assert "1/1 row stored; 1 upload, 1 job; usage: 1 request, 1 row," in out
    for plural_after_one in ("1 requests", "1 rows", "1 files", "1 uploads", "1 jobs", "(s)"):
        assert plural_after_one not in out


def test_every_option_has_help_and_shows_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in subparsers.choices.items():
        text = command.format_help()
        for action in command._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"
            if action.default not in (None, False):
                assert "default" in command._get_formatter()._get_help_string(action), (
                    f"{name} {action.option_strings}: its default is not shown"
                )
        if name == "run":
            assert "(default: 24h)" in text and "(default: 2)" in text
