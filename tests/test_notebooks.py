"""Every notebook runs top to bottom against the emulator, so a broken notebook fails CI; and
its committed outputs are what a fresh run prints, so a reader never sees stale numbers."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import nbformat
import pytest

from tests.notebook_outputs import (
    NOTEBOOKS,
    REFRESH_HINT,
    execute,
    normalise,
    text_outputs,
    warnings_printed,
)


def test_there_are_five_notebooks() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_emulator_and_matches_its_committed_outputs(path: Path) -> None:
    # conftest's autouse fixture has removed DASHSCOPE_API_KEY and the host settings.
    committed = nbformat.read(path, as_version=4)
    fresh = execute(path)  # the one execution of this notebook in the suite

    printed = "".join(
        output.get("text", "") for cell in fresh.cells for output in cell.get("outputs", [])
    )
    assert "using the local emulator" in printed
    assert warnings_printed(fresh) == [], "a warning box shows in the notebook"

    expected, got = text_outputs(committed), text_outputs(fresh)
    if expected != got:
        diff = difflib.unified_diff(
            json.dumps(expected, indent=1, ensure_ascii=False).splitlines(),
            json.dumps(got, indent=1, ensure_ascii=False).splitlines(),
            "committed",
            "fresh run",
            lineterm="",
        )
        pytest.fail(
            f"{path.name}: the committed outputs are stale (normalised text outputs differ "
            f"from a fresh run).\n{REFRESH_HINT}\n" + "\n".join(diff),
            pytrace=False,
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "No DASHSCOPE_API_KEY: using the local emulator at "
            "http://127.0.0.1:34377/compatible-mode/v1",
            "No DASHSCOPE_API_KEY: using the local emulator at "
            "http://127.0.0.1:<port>/compatible-mode/v1",
        ),
        (
            "[status=401, request_id=0391efe4-ab3e-4fb2-b0bf-e7328e50425f, rows=[0]]",
            "[status=401, request_id=<uuid>, rows=[0]]",
        ),
        ("<Foo object at 0x7f3a2c1d9e50>", "<Foo object at 0x<address>>"),
        ("/tmp/ipykernel_12418/1926757261.py:1: note", "<tmp>:1: note"),
        ("embedded 400 rows in 0.52 s (769.2 rows/s)", "embedded 400 rows in <duration> (<rate>)"),
        ("CPU times: user 12 ms, sys: 3.1 µs", "CPU times: user <duration>, sys: <duration>"),
        ("850 texts per second at 2026-11-24T04:34:51.367Z", "<rate> at <timestamp>"),
        (
            "Embedding:   0%|          | 0/50 [00:00<?, ?row/s]",
            "<progress bar: Embedding, total 50>",
        ),
        (
            "Embedding:  40%|####      | 20/50 [00:00<00:01, 25.1row/s]\r"
            "Embedding: 100%|##########| 50/50 [00:01<00:00, 47.65row/s]\n",
            "<progress bar: Embedding, total 50>\n",
        ),
        ("Parsing nodes: 12it [00:00, 301.22it/s]", "<progress bar: Parsing nodes, total ?>"),
        (  # a nested bar's states, however many a slow run printed, are one placeholder
            "\nEmbedding:   0%|          | 0/53 [00:00<?, ?row/s]\x1b[A\n"
            "Embedding:  19%|#9        | 10/53 [00:00<00:03, 12.1row/s]\x1b[A\n"
            "Embedding: 100%|##########| 53/53 [00:01<00:00, 40.2row/s]\n",
            "\n<progress bar: Embedding, total 53>\n",
        ),
        # What matters is kept exactly.
        (
            "Usage(model='text-embedding-v4', requests=7, rows=52, prompt_tokens=2965, "
            "cost_cny=0.0014824999999999999)",
            "Usage(model='text-embedding-v4', requests=7, rows=52, prompt_tokens=2965, "
            "cost_cny=0.0014824999999999999)",
        ),
        (
            "50 nodes, each with a 512 wide vector; (50, 512); requests for the second run: 0",
            "50 nodes, each with a 512 wide vector; (50, 512); requests for the second run: 0",
        ),
        ("  1.070  Annual leave for new employees", "  1.070  Annual leave for new employees"),
        (
            "about 59 tokens per passage; 1M passages ~ 29 CNY",
            "about 59 tokens per passage; 1M passages ~ 29 CNY",
        ),
    ],
)
def test_normalisation_hides_what_changes_and_keeps_what_matters(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
