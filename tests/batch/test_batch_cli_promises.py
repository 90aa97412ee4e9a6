"""The batch CLI never lies (issue "The Batch path keeps every clean row"): one corpus, model
and width per manifest; refusals before the manifest exists and before any call; typed
service errors as one line and a non-zero exit, the key nowhere; a dry run that found
problems and a run that left rows without vectors exit non-zero and say where the report is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from modelstudio_embeddings.__main__ import main
from modelstudio_embeddings.batch import BatchJob
from modelstudio_embeddings.batch.cli import EXIT_INCOMPLETE, EXIT_SERVICE, EXIT_USAGE
from modelstudio_embeddings.batch.results import read_failures
from modelstudio_embeddings.core.errors import (
    AuthenticationError,
    RateLimitError,
    ServiceUnavailableError,
)
from modelstudio_embeddings.core.retry import RetryPolicy
from modelstudio_emulator import Emulator
from modelstudio_emulator.faults import BatchFault
from modelstudio_emulator.vectors import embed_texts

from .test_batch_job import corpus

WRONG_KEY = "sk-wrong-canary-4242"


def cli(emu: Emulator, *args: str) -> int:
    common = ["--base-url", emu.base_url, "--allow-insecure-http", "--poll", "0.005", "0.05"]
    return main(["batch", *args, *common, "--no-progress", "--max-retries", "2"])


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes()).hexdigest()


def batch_calls(emu: Emulator) -> int:
    return len([r for r in emu.log if r.protocol == "batch"])


@pytest.fixture
def keyed(batch_emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("DASHSCOPE_API_KEY", batch_emu.api_key)
    return batch_emu


def write(path: Path, texts: list[str]) -> str:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return str(path)


def test_a_manifest_refuses_another_corpus_model_or_width(
    keyed: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = corpus(300)
    first = write(tmp_path / "a.txt", texts)
    manifest, output = tmp_path / "m.sqlite", tmp_path / "v.npy"
    base = ["--manifest", str(manifest), "--output", str(output)]
    assert cli(keyed, "run", first, *base, "--dimensions", "64") == 0
    before, uploads = digest(output), keyed.batch.stats.uploads
    capsys.readouterr()
    edited = write(tmp_path / "b.txt", [*texts[:-1], "an edited last row"])
    refusals = {
        "other texts": ["run", edited, *base],
        "model=text-embedding-v4, not text-embedding-v2": [
            "run",
            first,
            *base,
            "--model",
            "text-embedding-v2",
        ],
        "dimensions=64, not 512": ["run", first, *base, "--dimensions", "512"],
        "submit: other texts": ["submit", edited, "--manifest", str(manifest)],
    }
    for what, argv in refusals.items():
        assert cli(keyed, *argv) == EXIT_USAGE, what
        err = capsys.readouterr().err
        assert str(manifest) in err and what.removeprefix("submit: ") in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert keyed.batch.stats.uploads == uploads  # nothing uploaded
    assert digest(output) == before  # the output untouched
    # The manifest alone is enough for the rest (its model and width).
    again = tmp_path / "again.npy"
    assert cli(keyed, "fetch", "--manifest", str(manifest), "--output", str(again)) == 0
    np.testing.assert_array_equal(np.load(again), embed_texts(texts, 64))
    for action in ("status", "wait", "cancel"):
        assert cli(keyed, action, "--manifest", str(manifest)) == 0


def test_bad_inputs_are_refused_before_the_manifest_and_any_call(
    keyed: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "a.txt", corpus(20))
    manifest = tmp_path / "m.sqlite"
    base = ["--manifest", str(manifest), "--output", str(tmp_path / "v.npy")]
    cases = {
        "does not exist": ["run", str(tmp_path / "missing.txt"), *base],
        "Unknown model": ["run", source, *base, "--model", "text-embedding-v9"],
        "must end in .npy or .parquet": [
            "run",
            source,
            "--manifest",
            str(manifest),
            "--output",
            str(tmp_path / "v.csv"),
        ],
        "24h to 336h": ["run", source, *base, "--completion-window", "12h"],
        "no run to status": ["status", "--manifest", str(manifest)],
    }
    for what, argv in cases.items():
        assert cli(keyed, *argv) == EXIT_USAGE, what
        err = capsys.readouterr().err
        assert what in err and len(err.strip().splitlines()) == 1, err
        assert not manifest.exists(), what
    assert batch_calls(keyed) == 0


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (None, None, AuthenticationError),
        (500, "InternalError", ServiceUnavailableError),
        (429, "Throttling", RateLimitError),
    ],
)
def test_service_failures_are_typed_errors_and_one_line(
    keyed: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int | None,
    code: str | None,
    error: type[Exception],
) -> None:
    if status is None:
        monkeypatch.setenv("DASHSCOPE_API_KEY", WRONG_KEY)
        key = WRONG_KEY
    else:
        keyed.batch.refuse_calls(status, code or "", "refused on every call")
        key = keyed.api_key
    source = write(tmp_path / "a.txt", corpus(30))
    argv = ["run", source, "--manifest", str(tmp_path / "m.sqlite")]
    assert cli(keyed, *argv, "--output", str(tmp_path / "v.npy")) == EXIT_SERVICE
    err = capsys.readouterr().err
    assert err.startswith("error: Batch API, uploading") and len(err.strip().splitlines()) == 1
    assert key not in err and "Traceback" not in err
    # The Python API raises the same library error.
    with (
        BatchJob(
            tmp_path / "py.sqlite",
            api_key=key,
            base_url=keyed.base_url,
            allow_insecure_http=True,
            dimensions=64,
            retry_policy=RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02),
        ) as job,
        pytest.raises(error) as info,
    ):
        job.run(corpus(30))
    assert key not in str(info.value) and key not in repr(info.value.args)


def test_a_dry_run_with_problems_and_a_run_with_failed_rows_exit_non_zero(
    keyed: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = corpus(40)
    texts[5] = f"{texts[5]} [[BLOCKED]]"
    source = write(tmp_path / "a.txt", texts)
    base = ["--manifest", str(tmp_path / "m.sqlite"), "--output", str(tmp_path / "v.npy")]
    keyed.batch.script(BatchFault.fail_validation("invalid_line", "line 1 is wrong"))
    assert cli(keyed, "run", source, *base, "--dry-run") == EXIT_INCOMPLETE
    assert "Dry run found problems" in capsys.readouterr().err
    report = tmp_path / "failed.jsonl"
    assert cli(keyed, "run", source, *base, "--failures", str(report)) == EXIT_INCOMPLETE
    printed = capsys.readouterr()
    assert "1 row left without vectors" in printed.out and str(report) in printed.out
    assert "row 5" not in printed.out + printed.err  # listed in the report, not on screen
    assert [f.row for f in read_failures(report)] == [5]
    vectors = np.load(tmp_path / "v.npy")
    assert np.isnan(vectors[5]).all() and np.isfinite(np.delete(vectors, 5, axis=0)).all()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from modelstudio_embeddings import __version__

    for argv in (["--version"], ["batch", "--version"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert capsys.readouterr().out.strip().endswith(__version__)
