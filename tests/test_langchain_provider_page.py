"""docs/langchain-provider.md, the page LangChain's integration docs link to: it has the
sections of their provider pages, and each of its runnable blocks runs on the emulator (the
blocks run here as in ``tests/test_readme.py``, which runs every docs page)."""

from __future__ import annotations

import re

import pytest

from tests.test_readme import BLOCK, ROOT

PAGE = ROOT / "docs" / "langchain-provider.md"
TEXT = PAGE.read_text(encoding="utf-8")
RUNNABLE = [code for marker, code in BLOCK.findall(TEXT) if not marker]


def test_the_page_has_the_sections_of_a_langchain_integration_page() -> None:
    headings = re.findall(r"^#{2,3} (.+)$", TEXT, re.M)
    for section in (
        "Overview",
        "Setup",
        "Installation",
        "Credentials",
        "Instantiation",
        "Indexing and retrieval",
        "Direct usage",
        "Reranking",
        "A large corpus: the Batch API",
        "API reference",
    ):
        assert section in headings
    assert "[langchain]" in TEXT and "DASHSCOPE_API_KEY" in TEXT


@pytest.mark.parametrize("code", RUNNABLE, ids=[f"block{n}" for n in range(len(RUNNABLE))])
def test_each_block_runs_on_the_emulator(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    exec(compile(code, str(PAGE), "exec"), {"__name__": "__docs__"})


def test_every_usage_section_has_a_runnable_block() -> None:
    assert len(RUNNABLE) == 5  # instantiation, indexing, direct usage, reranking, batch
