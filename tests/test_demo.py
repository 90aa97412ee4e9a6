"""The newcomer's main job: ``python -m modelstudio_embeddings demo`` on the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from modelstudio_embeddings.demo import QUESTIONS, load_corpus

_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_demo_runs_on_the_emulator_and_reports_what_it_spent() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    done = subprocess.run(
        [sys.executable, "-m", "modelstudio_embeddings", "demo"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env={**env, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "No DASHSCOPE_API_KEY found: running against the local emulator" in out
    assert "not the real model's" in out
    assert "Traceback" not in done.stderr
    assert "50/50" in done.stderr, "a progress bar while it embeds"

    sections = out.split("\nQ: ")[1:]
    assert [s.splitlines()[0] for s in sections] == list(QUESTIONS)
    for section in sections:
        hits = re.findall(r"^ {4}-?\d+\.\d{3}  lhl-\d{3}  .+$", section, flags=re.MULTILINE)
        assert len(hits) == 6, section  # top 3 from LangChain and top 3 from LlamaIndex
        assert "LangChain InMemoryVectorStore" in section
        assert "LlamaIndex VectorStoreIndex" in section
    expected = [
        "lhl-001  Annual leave for new employees",
        "lhl-020  VPN while travelling",
        "lhl-047",
    ]
    for section, best in zip(sections, expected, strict=True):
        framework_blocks = section.split("LlamaIndex VectorStoreIndex:")
        for block in framework_blocks:
            first_hit = next(line for line in block.splitlines() if "lhl-" in line)
            assert best in first_hit, section

    spent = out.rstrip().splitlines()[-2]
    assert spent.startswith("Spent: ") and "requests" in spent and "tokens" in spent
    assert "CNY" in spent
    assert len(out.splitlines()) <= 60


def test_corpus_has_about_fifty_distinct_passages() -> None:
    corpus = load_corpus()
    assert 40 <= len(corpus) <= 60
    assert len({p.id for p in corpus}) == len(corpus)
    assert all(p.text.strip() and p.title.strip() for p in corpus)
    chinese = [p for p in corpus if _CJK.search(p.text)]
    assert 4 <= len(chinese) <= 6
    for passage in corpus:
        if passage in chinese:
            assert 60 <= len(passage.text) <= 150, passage.id  # characters
        else:
            assert 40 <= len(passage.text.split()) <= 90, passage.id  # words
