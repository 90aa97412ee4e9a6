"""Every Python block of the README runs against the emulator, so the docs cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"(<!-- requires-key -->\s*)?```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize(
    "code", [code for marker, code in BLOCKS if not marker], ids=lambda c: c.splitlines()[0][:40]
)
def test_readme_block_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 5
