"""The newcomer's main job: ``python -m modelstudio_embeddings demo`` on the emulator."""

from __future__ import annotations

import os
import subprocess
import sys

from modelstudio_embeddings.demo import QUESTIONS, load_corpus


def test_demo_runs_on_the_emulator_and_reports_what_it_spent() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    done = subprocess.run(
        [sys.executable, "-m", "modelstudio_embeddings", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "No DASHSCOPE_API_KEY found: running against the local emulator" in out
    assert "not the real model's" in out
    for question in QUESTIONS:
        assert f"Q: {question}" in out
    assert "Annual leave for new employees" in out.split(QUESTIONS[1])[0]
    assert "VPN while travelling abroad" in out
    assert "Spent:" in out and "CNY" in out
    assert "50/50" in done.stderr, "a progress bar while it embeds"


def test_corpus_has_about_fifty_distinct_passages() -> None:
    corpus = load_corpus()
    assert 40 <= len(corpus) <= 60
    assert len({p.id for p in corpus}) == len(corpus)
    assert all(p.text.strip() and p.title.strip() for p in corpus)
