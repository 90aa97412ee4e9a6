"""Every Python block of the README and the docs guides runs against the emulator, so the docs
cannot drift from the code. A block preceded by ``<!-- requires-key -->`` is skipped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- requires-key -->\s*)?```python\n(.*?)```", re.S)
CASES = [
    pytest.param(page, code, id=f"{page.name}:{n}")
    for page in PAGES
    for n, (marker, code) in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")))
    if not marker
]


@pytest.mark.parametrize(("page", "code"), CASES)
def test_documented_block_runs(page: Path, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    exec(compile(code, str(page), "exec"), {"__name__": "__docs__"})


def test_readme_and_guides_have_python_blocks() -> None:
    assert len(CASES) >= 12
