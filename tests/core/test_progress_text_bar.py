"""Progress bars are tqdm's plain text bar, so their final state stays in a saved or exported
notebook (a Jupyter widget would vanish, and it loads from a CDN); ``tqdm.auto`` only when
``MODELSTUDIO_PROGRESS=auto`` asks for it. ``show_progress`` means what it meant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import tqdm
import tqdm.auto

from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import EmbeddingClient
from modelstudio_embeddings.batch import BatchJob
from modelstudio_embeddings.core.progress import PROGRESS_ENV, new_bar
from modelstudio_emulator import Emulator


def test_the_bar_is_plain_text_unless_auto_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    with new_bar(3, "Embedding", "row") as bar:
        assert type(bar) is tqdm.tqdm
    monkeypatch.setenv(PROGRESS_ENV, "auto")
    with new_bar(3, "Embedding", "row") as bar:
        assert type(bar) is tqdm.auto.tqdm


def test_a_call_leaves_its_final_state_as_text_on_stderr(
    make_client: Callable[..., EmbeddingClient],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    client = make_client(show_progress=True)
    client.embed([f"passage {i}" for i in range(25)])
    err = capsys.readouterr().err
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("Embedding: 100%") and "25/25" in final
    client.embed(["no bar"], show_progress=False)
    assert capsys.readouterr().err == ""


def test_the_llamaindex_batch_bar_is_text_and_off_by_default(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    model = ModelStudioEmbedding(api_key=emulator.api_key, base_url=emulator.base_url)
    model.get_text_embedding_batch(["a", "b", "c"])
    assert capsys.readouterr().err == ""
    model.get_text_embedding_batch(["a", "b", "c"], show_progress=True)
    final = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("Embedding: 100%") and "3/3" in final


def test_the_batch_jobs_bar_is_text(
    batch_emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    with BatchJob(
        tmp_path / "run.sqlite",
        dimensions=64,
        api_key=batch_emulator.api_key,
        base_url=batch_emulator.base_url,
        poll_interval=(0.005, 0.05),
        show_progress=True,
    ) as job:
        assert job.run([f"text {i}" for i in range(30)]).complete
    err = capsys.readouterr().err
    assert "Batch requests" in err and "3/3" in err


@pytest.fixture
def batch_emulator(emulator: Emulator) -> Emulator:
    """The session's emulator on a fast batch clock."""
    from tests.batch.conftest import BATCH_DEFAULTS

    emulator.batch.reset()
    emulator.configure(**BATCH_DEFAULTS)
    return emulator
